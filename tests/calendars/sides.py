"""The provider side of the calendar tests: for Google and for Microsoft, the sandbox's control
routes, its default account and how it counts refreshes."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.calendars.dance import ACCOUNT, OUTLOOK_ACCOUNT
from tests.live import LiveStack


@dataclass(frozen=True)
class Side:
    provider: str
    account: str
    # What the audit row of a refused refresh names, and of a code redeemed twice.
    refused_grant: str
    refused_code: str

    def control(self, live: LiveStack) -> httpx.Client:
        return live.google() if self.provider == "google" else live.microsoft()

    def refreshes(self, live: LiveStack) -> int:
        if self.provider == "google":
            return int(live.google_stats()["token_refresh"])
        return int(live.microsoft_stats()["token_requests"]["refresh_token"])


GOOGLE = Side("google", ACCOUNT, "invalid_grant", "refused the grant")
MICROSOFT = Side("microsoft", OUTLOOK_ACCOUNT, "AADSTS50173", "AADSTS54005")
SIDES = (GOOGLE, MICROSOFT)
