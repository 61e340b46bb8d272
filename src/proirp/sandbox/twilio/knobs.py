"""What can be changed while the sandbox runs (knobs), how a change is checked, and the counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from proirp.sandbox.knobs import OutagePhase, SendKnobsUpdate

STAT_NAMES = (
    "created",
    "rejected_429",
    "rejected_4xx",
    "faults_5xx",
    "timeouts",
    "callbacks_delivered",
    "callbacks_failed",
    "inbound",
    "inbound_retries",
)

# Knobs that may be set to null (the rest need a value).
NULLABLE_KNOBS = frozenset({"mps"})


@dataclass
class Knobs:
    """Behaviour that can be changed while the sandbox runs."""

    mps: float | None
    latency_ms: int
    fail_next: int = 0
    fail_status: int = 503
    timeout_next: int = 0
    timeout_seconds: float = 30.0
    reset_next: int = 0
    outage: list[OutagePhase] = field(default_factory=list)


class KnobsUpdate(SendKnobsUpdate):
    """POST /_sandbox/config: only the keys given change; "mps": null means unlimited."""

    mps: float | None = Field(default=None, gt=0)
    fail_status: Literal[500, 503] | None = None
