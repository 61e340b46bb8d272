"""The staff UI's pages that the product links to from outside the UI: OAuth callbacks and staff
notices (emails to staff). Pages, never the API's routes, which answer a browser with JSON."""

from __future__ import annotations

# Where calendars are connected.
SETTINGS_PAGE = "/app/settings"
INBOX_PAGE = "/app/inbox"
AUDIT_PAGE = "/app/audit"
CAMPAIGNS_PAGE = "/app/campaigns"
