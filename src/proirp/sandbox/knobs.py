"""The knobs and counters every imitated vendor has, behind the one lock that guards its state.

Each vendor keeps its own knob dataclass (Twilio paces by mps, SendGrid by rps and adds Event
Webhook knobs); what they share is latency, injected 5xx faults and held answers, and how a change,
a reset and a counter are applied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class FaultKnobs(Protocol):
    """The knobs every vendor's knob dataclass has (besides its own)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    latency_ms: int
    fail_next: int
    fail_status: int
    timeout_next: int
    timeout_seconds: float


K = TypeVar("K", bound=FaultKnobs)


class FaultKnobsUpdate(BaseModel):
    """The POST /_sandbox/config keys every vendor checks alike; only the keys given change.

    fail_status is each vendor's own: the 5xx statuses it may answer differ.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    fail_next: int | None = Field(default=None, ge=0)
    timeout_next: int | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)


class KnobbedState(Generic[K]):
    """A vendor imitation's knobs and counters; subclasses add their records under `_lock`.

    A subclass gives its starting knobs (`_initial_knobs`) and may react to a knob change
    (`_knobs_changed_locked`, e.g. to rebuild its rate limiter); its reset() calls
    `_reset_knobs_locked` with the lock held.
    """

    def __init__(self, stat_names: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self._stat_names = tuple(stat_names)
        self._knobs = self._initial_knobs()
        self._stats = dict.fromkeys(self._stat_names, 0)
        self._knobs_changed_locked(self._knobs.__dataclass_fields__)

    def _initial_knobs(self) -> K:
        raise NotImplementedError

    def _knobs_changed_locked(self, names: Collection[str]) -> None:
        """Called with the lock held after these knobs were set (all of them at start and reset)."""

    def _reset_knobs_locked(self) -> None:
        self._knobs = self._initial_knobs()
        self._stats = dict.fromkeys(self._stat_names, 0)
        self._knobs_changed_locked(self._knobs.__dataclass_fields__)

    def knobs(self) -> dict[str, Any]:
        """The current knobs."""
        with self._lock:
            return dataclasses.asdict(self._knobs)

    def update_knobs(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change some knobs (already validated by the caller); returns all knobs."""
        with self._lock:
            self._knobs = dataclasses.replace(self._knobs, **changes)
            self._knobs_changed_locked(changes)
            return dataclasses.asdict(self._knobs)

    async def pause(self) -> None:
        """Wait the configured latency without blocking other requests."""
        with self._lock:
            delay = self._knobs.latency_ms / 1000
        if delay > 0:
            await asyncio.sleep(delay)

    def take_failure(self) -> int | None:
        """The 5xx status the next request must fail with, if fail_next says so."""
        with self._lock:
            if self._knobs.fail_next <= 0:
                return None
            self._knobs.fail_next -= 1
            self._stats["faults_5xx"] += 1
            return self._knobs.fail_status

    def take_timeout(self) -> float | None:
        """How long to hold the answer to a request that succeeded, if timeout_next says so."""
        with self._lock:
            if self._knobs.timeout_next <= 0:
                return None
            self._knobs.timeout_next -= 1
            self._stats["timeouts"] += 1
            return self._knobs.timeout_seconds

    def count(self, stat: str) -> None:
        """Add one to a counter reported by stats()."""
        with self._lock:
            self._stats[stat] += 1

    def stats(self) -> dict[str, int]:
        """Counters since start or the last reset."""
        with self._lock:
            return dict(self._stats)
