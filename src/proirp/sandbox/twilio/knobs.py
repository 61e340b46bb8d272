"""What can be changed while the sandbox runs (knobs), how a change is checked, and the counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STAT_NAMES = (
    "created",
    "rejected_429",
    "rejected_4xx",
    "faults_5xx",
    "timeouts",
    "callbacks_delivered",
    "callbacks_failed",
    "inbound",
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


class KnobsUpdate(BaseModel):
    """POST /_sandbox/config: only the keys given change; "mps": null means unlimited."""

    model_config = ConfigDict(extra="forbid")

    mps: float | None = Field(default=None, gt=0)
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    fail_next: int | None = Field(default=None, ge=0)
    fail_status: Literal[500, 503] | None = None
    timeout_next: int | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)
