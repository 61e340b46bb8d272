"""What can be changed while the SendGrid imitation runs (knobs), how a change is checked, and
the counters it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field

from proirp.sandbox.knobs import OutagePhase, SendKnobsUpdate

STAT_NAMES = (
    "requests",  # every mail/send, whatever its answer
    "accepted",  # 202s
    "recipients",  # delivered copies recorded (one per recipient per personalization)
    "rejected_401",
    "rejected_403",  # the key's scopes (api_key_scopes knob) lack mail.send
    "rejected_4xx",  # validation refusals (400)
    "rejected_429",
    "faults_5xx",  # injected by fail_next
    "timeouts",  # answers held by timeout_next
    "event_batches_posted",  # answered 2xx by the app (duplicates included)
    "event_batches_failed",  # still refused after the last retry
    "events_posted",
)

# Knobs that may be set to null (the rest need a value).
NULLABLE_KNOBS = frozenset({"rps"})

# What GET /v3/scopes says the accepted key may do: a restricted key that may only send mail.
DEFAULT_API_KEY_SCOPES = ("mail.send",)


@dataclass
class Knobs:
    """Behaviour that can be changed while the sandbox runs."""

    rps: float | None
    latency_ms: int
    event_delay_ms: int
    fail_next: int = 0
    fail_status: int = 503
    timeout_next: int = 0
    timeout_seconds: float = 30.0
    reset_next: int = 0
    outage: list[OutagePhase] = field(default_factory=list)
    # How long a refused Event Webhook batch is retried, in seconds after its first try, at
    # growing intervals (0.1 s, 0.5 s, then 2.5 s, 12.5 s, 30 s each). SendGrid retries for 24
    # hours; the default keeps a test's wait short (three tries).
    event_retry_seconds: float = 0.6
    # Every Nth Event Webhook batch is POSTed twice (0 = never), as SendGrid sometimes does.
    duplicate_every: int = 0
    # Post Event Webhook batches at all.
    events: bool = True
    # The accepted key's scopes, as GET /v3/scopes lists them; mail/send needs "mail.send".
    api_key_scopes: list[str] = field(default_factory=lambda: list(DEFAULT_API_KEY_SCOPES))


class KnobsUpdate(SendKnobsUpdate):
    """POST /_sandbox/config: only the keys given change; "rps": null means unlimited."""

    rps: float | None = Field(default=None, gt=0)
    event_delay_ms: int | None = Field(default=None, ge=0, le=60_000)
    fail_status: Literal[500, 502, 503] | None = None
    event_retry_seconds: float | None = Field(default=None, ge=0, le=86_400)
    duplicate_every: int | None = Field(default=None, ge=0)
    events: bool | None = None
    api_key_scopes: list[Annotated[str, Field(min_length=1)]] | None = None
