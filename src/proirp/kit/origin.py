"""Where a request came from: the address and user agent the audit trail records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    """Where an action came from, for the audit trail."""

    ip: str | None = None
    user_agent: str | None = None
