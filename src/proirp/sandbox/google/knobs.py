"""What can be changed while the Google imitation runs (knobs), how a change is checked, and the
counters it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from proirp.sandbox.knobs import FaultKnobsUpdate

STAT_NAMES = (
    "consent_allowed",
    "consent_denied",
    "token_exchange",  # authorization codes redeemed
    "token_refresh",  # access tokens minted from a refresh token
    "token_rejected",  # token endpoint refusals (invalid_grant, invalid_client, …)
    "revoke",
    "userinfo",
    "calendar_list",
    "events_list",
    "events_get",
    "events_insert",
    "events_patch",
    "events_delete",
    "full_sync_required",  # 410s for stale sync tokens
    "channels_watch",  # events.watch channels made
    "channels_stop",  # channels.stop calls that ended one
    "push_sent",  # notifications the receiving end took (2xx)
    "push_failed",  # notifications refused or not delivered
    "rejected_401",
    "rejected_4xx",
    "rejected_rate",
    "faults_5xx",  # injected by fail_next
    "timeouts",  # answers held by timeout_next
)

# Knobs that may be set to null (the rest need a value).
NULLABLE_KNOBS = frozenset({"rpm", "sync_token_max_age_seconds"})


@dataclass
class Knobs:
    """Behaviour that can be changed while the sandbox runs."""

    latency_ms: int
    # Lifetime of access tokens minted from now on (0: born expired). To expire the tokens
    # already issued, POST /_sandbox/expire-access-tokens.
    access_token_seconds: int
    # Calendar API and userinfo requests per minute per account; None = unlimited.
    rpm: int | None = None
    # How a request over rpm is refused: Google answers 403 (usageLimits) or, lately, 429.
    rate_limit_status: int = 403
    rate_limit_reason: str = "userRateLimitExceeded"
    # Sync tokens older than this are refused with 410; None = they never age out.
    sync_token_max_age_seconds: float | None = None
    fail_next: int = 0
    fail_status: int = 503
    timeout_next: int = 0
    timeout_seconds: float = 30.0


class KnobsUpdate(FaultKnobsUpdate):
    """POST /_sandbox/config: only the keys given change; "rpm": null means unlimited."""

    access_token_seconds: int | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, gt=0)
    rate_limit_status: Literal[403, 429] | None = None
    rate_limit_reason: Literal["userRateLimitExceeded", "rateLimitExceeded"] | None = None
    sync_token_max_age_seconds: float | None = Field(default=None, ge=0)
    fail_status: Literal[500, 503] | None = None
