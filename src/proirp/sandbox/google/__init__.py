"""The Google part of the provider sandbox: OAuth 2.0 (consent page, PKCE, refresh, revoke) and
Calendar API v3 (calendarList, events with paging and incremental sync).

Point the product at it with `GOOGLE_OAUTH_BASE=<root>/google/oauth` and
`GOOGLE_API_BASE=<root>/google/api`; the official API client needs
`client_options={"api_endpoint": "<root>/google/api/calendar/v3/"}`.
"""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.google.api import api_router
from proirp.sandbox.google.control import control_router
from proirp.sandbox.google.oauth import oauth_router
from proirp.sandbox.google.state import GoogleSandbox

__all__ = ["GoogleSandbox", "google_router"]


def google_router(sandbox: GoogleSandbox) -> APIRouter:
    """Google's OAuth tree (/oauth), API tree (/api) and the /_sandbox control routes."""
    router = APIRouter()
    router.include_router(oauth_router(sandbox), prefix="/oauth")
    router.include_router(api_router(sandbox), prefix="/api")
    router.include_router(control_router(sandbox))
    return router
