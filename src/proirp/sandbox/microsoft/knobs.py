"""What can be changed while the Microsoft imitation runs (knobs), how a change is checked, and the
counters it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from proirp.sandbox.knobs import FaultKnobsUpdate

TOKEN_GRANTS = ("authorization_code", "refresh_token")
STAT_NAMES = (
    "consent_allowed",
    "consent_denied",
    # Token requests by grant type; stats() reports them as {"token_requests": {grant: n}}.
    "authorization_code",
    "refresh_token",
    "token_rejected",  # token endpoint refusals (invalid_grant, invalid_client, …)
    "graph_requests",  # every Graph request that reached a route, refused or not
    "me",
    "events_created",
    "events_read",
    "events_updated",
    "events_deleted",
    "calendar_view_pages",
    "delta_pages",
    "events_listed",  # events (and @removed entries) in calendarView and delta pages
    "delta_gone",  # 410s for stale, expired or unknown delta and skip tokens
    "rejected_401",
    "rejected_403",
    "rejected_4xx",  # other 4xx answers of Graph (bad request, not found)
    "throttled",  # every 429, whatever its reason
    "concurrency_refused",  # the 429s for too many requests in flight for one mailbox
    "faults_5xx",  # injected by fail_next / token_fail_next
    "timeouts",  # answers held by timeout_next
    "subscriptions_created",  # after their validation handshake
    "subscriptions_renewed",
    "subscriptions_deleted",
    "push_sent",  # notification POSTs the receiving end took (2xx)
    "push_failed",  # notification POSTs refused or not delivered
)

# Knobs that may be set to null (the rest need a value).
NULLABLE_KNOBS = frozenset({"mailbox_rps", "refresh_token_seconds", "delta_token_max_age_seconds"})


@dataclass
class Knobs:
    """Behaviour that can be changed while the sandbox runs."""

    # Added to every identity and Graph answer (before any check), like a remote service.
    latency_ms: int
    # Lifetime of access tokens minted from now on (0: born expired). To expire the tokens
    # already issued, POST /_sandbox/expire-access-tokens.
    access_token_seconds: int
    # Graph requests one mailbox may have in flight at once (Outlook allows 4); more get 429.
    mailbox_concurrency: int = 4
    # Graph requests per second per mailbox; None = unlimited. Over it: 429 with Retry-After.
    mailbox_rps: float | None = None
    # The next N Graph requests answer 429 (ApplicationThrottled) whatever the load.
    throttle_next: int = 0
    # Retry-After (seconds) of throttle_next, concurrency and 5xx answers.
    retry_after_seconds: int = 1
    # Added to Graph answers only, while the request counts as in flight (to make overlap).
    graph_hold_ms: int = 0
    # Delta page size when a request sends no `Prefer: odata.maxpagesize`.
    delta_page_size: int = 10
    # Refresh tokens older than this are refused (AADSTS70008); None = they never age out
    # (Microsoft's is 90 days of inactivity).
    refresh_token_seconds: int | None = None
    # Delta and skip tokens older than this answer 410; None = they never age out.
    delta_token_max_age_seconds: float | None = None
    # The next N token requests answer 503 (temporarily_unavailable).
    token_fail_next: int = 0
    # The next N Graph requests answer fail_status.
    fail_next: int = 0
    fail_status: int = 503
    # The next N Graph or token answers are held timeout_seconds after the work is done (the
    # client times out, yet the event or the tokens exist).
    timeout_next: int = 0
    timeout_seconds: float = 30.0


class KnobsUpdate(FaultKnobsUpdate):
    """POST /_sandbox/config: only the keys given change; "mailbox_rps": null = unlimited."""

    access_token_seconds: int | None = Field(default=None, ge=0)
    mailbox_concurrency: int | None = Field(default=None, ge=1, le=1000)
    mailbox_rps: float | None = Field(default=None, gt=0)
    throttle_next: int | None = Field(default=None, ge=0)
    retry_after_seconds: int | None = Field(default=None, ge=0, le=3600)
    graph_hold_ms: int | None = Field(default=None, ge=0, le=60_000)
    delta_page_size: int | None = Field(default=None, ge=1, le=1000)
    refresh_token_seconds: int | None = Field(default=None, ge=0)
    delta_token_max_age_seconds: float | None = Field(default=None, ge=0)
    token_fail_next: int | None = Field(default=None, ge=0)
    fail_status: Literal[500, 502, 503, 504] | None = None
