"""The knobs and counters every imitated vendor has, behind the one lock that guards its state.

Each vendor keeps its own knob dataclass (Twilio paces by mps, SendGrid by rps and adds Event
Webhook knobs); what they share is latency, injected 5xx faults, held answers, answers dropped
mid-way (a connection reset), a timed outage (503s, then 429s with Retry-After), the count of
requests that came before a Retry-After allowed, and how a change, a reset and a counter are
applied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

# A send that comes this soon after a Retry-After was given was on its way before the caller could
# have read it (the rate limiters' own allowance for network and scheduler jitter): counted apart.
IN_FLIGHT_SECONDS = 0.05

# Counters every vendor that sends for us reports besides its own.
FAULT_STAT_NAMES = (
    "outage_5xx",  # answers of an outage phase with a 5xx status
    "outage_429",  # answers of an outage phase with 429
    "early_requests",  # sends that came before a Retry-After we gave allowed
    "in_flight_at_retry_after",  # sends that came within IN_FLIGHT_SECONDS of one being given
    "resets",  # answers dropped mid-way by reset_next
)


@dataclasses.dataclass(frozen=True)
class OutagePhase:
    """One phase of an outage: every send is answered `status` for `seconds`, with Retry-After
    when `retry_after` is set."""

    status: int
    seconds: float
    retry_after: int | None = None


class OutagePhaseUpdate(BaseModel):
    """One phase of the "outage" knob, as POST /_sandbox/config takes it."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[429, 500, 503]
    seconds: float = Field(gt=0, le=3600)
    retry_after: int | None = Field(default=None, ge=0, le=3600)


@dataclasses.dataclass(frozen=True)
class OutageAnswer:
    """What a send is answered during an outage."""

    status: int
    retry_after: int | None

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class AnswerDropped(Exception):
    """Raised inside an answer already begun, so that the server drops the connection."""


def dropped_answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    """An answer that begins (status, headers, half the body) and then loses its connection, as
    a reset mid-answer does: the caller cannot tell whether the request was taken."""

    async def half_then_reset() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise AnswerDropped("the sandbox dropped this answer on purpose (reset_next)")

    full = {**(headers or {}), "Content-Length": str(len(body))}
    return StreamingResponse(half_then_reset(), status_code=status, headers=full)


class FaultKnobs(Protocol):
    """The knobs every vendor's knob dataclass has (besides its own)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    latency_ms: int
    fail_next: int
    fail_status: int
    timeout_next: int
    timeout_seconds: float


class SendKnobs(FaultKnobs, Protocol):
    """The knobs of a vendor that sends messages for us (Twilio, SendGrid), besides its own."""

    reset_next: int
    outage: list[OutagePhase]


K = TypeVar("K", bound=FaultKnobs)
SK = TypeVar("SK", bound=SendKnobs)


class FaultKnobsUpdate(BaseModel):
    """The POST /_sandbox/config keys every vendor checks alike; only the keys given change.

    fail_status is each vendor's own: the 5xx statuses it may answer differ.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    fail_next: int | None = Field(default=None, ge=0)
    timeout_next: int | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)


class SendKnobsUpdate(FaultKnobsUpdate):
    """The POST /_sandbox/config keys every vendor that sends for us checks alike."""

    reset_next: int | None = Field(default=None, ge=0)
    # Phases that follow each other from the moment this is set; [] ends an outage.
    outage: list[OutagePhaseUpdate] | None = None


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


class SenderState(KnobbedState[SK]):
    """A vendor that sends for us: besides the shared knobs, a timed outage, answers dropped
    mid-way, and the count of sends that came before a Retry-After it gave allowed."""

    def __init__(self, stat_names: Sequence[str]) -> None:
        self._outage_started = time.monotonic()
        # When a Retry-After we gave allows the next send, by scope ("" for the whole account),
        # and when the latest one was given.
        self._not_before: dict[str, float] = {}
        self._given_at: dict[str, float] = {}
        super().__init__(tuple(stat_names) + FAULT_STAT_NAMES)

    def _reset_knobs_locked(self) -> None:
        super()._reset_knobs_locked()
        self._not_before.clear()
        self._given_at.clear()

    def update_knobs(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "outage" in changes:
            phases = [OutagePhase(**phase.model_dump()) for phase in changes["outage"]]
            changes = {**changes, "outage": phases}
            with self._lock:
                self._outage_started = time.monotonic()
        return super().update_knobs(changes)

    def take_reset(self) -> bool:
        """Whether the answer to this request must be dropped mid-way, if reset_next says so."""
        with self._lock:
            if self._knobs.reset_next <= 0:
                return False
            self._knobs.reset_next -= 1
            self._stats["resets"] += 1
            return True

    def take_outage(self) -> OutageAnswer | None:
        """The answer an outage gives this send now, if one is under way; a 429's Retry-After
        holds the whole account."""
        with self._lock:
            elapsed = time.monotonic() - self._outage_started
            for phase in self._knobs.outage:
                if elapsed < phase.seconds:
                    break
                elapsed -= phase.seconds
            else:
                return None
            if phase.status == 429:
                self._stats["outage_429"] += 1
            else:
                self._stats["outage_5xx"] += 1
            if phase.retry_after is not None:
                self._hold_locked("", phase.retry_after)
            return OutageAnswer(phase.status, phase.retry_after)

    def gave_retry_after(self, scope: str, seconds: float) -> None:
        """A Retry-After was given to `scope` (a sender, or "" for the account)."""
        with self._lock:
            self._hold_locked(scope, seconds)

    def _hold_locked(self, scope: str, seconds: float) -> None:
        now = time.monotonic()
        self._not_before[scope] = max(now + seconds, self._not_before.get(scope, 0.0))
        self._given_at[scope] = now

    def note_send(self, *scopes: str, arrived: float) -> None:
        """Count this send as early if it arrived (`arrived`: time.monotonic() when its handler
        began, before the configured latency and before its body was read) before a Retry-After
        given to the account or to one of `scopes` allowed (as in flight if it arrived before,
        or just after, that Retry-After was given)."""
        with self._lock:
            now = arrived
            held = [s for s in ("", *scopes) if now < self._not_before.get(s, 0.0)]
            if not held:
                return
            if any(now < self._given_at[s] + IN_FLIGHT_SECONDS for s in held):
                self._stats["in_flight_at_retry_after"] += 1
            else:
                self._stats["early_requests"] += 1
