"""What the sandbox's key-checked, read-only vendors share (OpenAI's models list, Stripe's
balance): one accepted key, the fault knobs, the counters, the order in which a route admits a
request, and the router with its /_sandbox control routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Request

from proirp.sandbox import control
from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.errors import SandboxError
from proirp.sandbox.knobs import FaultKnobsUpdate, KnobbedState

STAT_NAMES = ("requests", "rejected_401", "faults_5xx", "timeouts")
NULLABLE_KNOBS: frozenset[str] = frozenset()


@dataclass
class Knobs:
    """Behaviour that can be changed while the sandbox runs."""

    latency_ms: int
    fail_next: int = 0
    fail_status: int = 503
    timeout_next: int = 0
    timeout_seconds: float = 30.0


class KnobsUpdate(FaultKnobsUpdate):
    """POST /_sandbox/config: only the keys given change."""

    fail_status: Literal[500, 503] | None = None


class KeyedSandbox(KnobbedState[Knobs]):
    """A vendor that checks one key and only reads; subclasses say how the key is presented
    and how the vendor words its refusals."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        super().__init__(STAT_NAMES)

    def _initial_knobs(self) -> Knobs:
        return Knobs(latency_ms=self.config.latency_ms)

    def authenticate(self, authorization: str | None) -> None:
        """Raise the vendor's 401 unless the request carries the accepted key."""
        raise NotImplementedError

    def server_fault(self, status: int) -> SandboxError:
        """The vendor's answer to an injected 5xx (the fail_next knob)."""
        raise NotImplementedError

    async def admit(self, request: Request, answer_headers: dict[str, str]) -> None:
        """Latency, the key, an injected fault, an injected delay: in the live API's order.
        Refusals carry `answer_headers` (the vendor's request id) like any answer."""
        # Latency first: a real API makes you wait for its refusals too.
        await self.pause()
        self.count("requests")
        try:
            self.authenticate(request.headers.get("authorization"))
        except SandboxError as error:
            self.count("rejected_401")
            error.headers.update(answer_headers)
            raise
        failure = self.take_failure()
        if failure is not None:
            fault = self.server_fault(failure)
            fault.headers.update(answer_headers)
            raise fault
        hold = self.take_timeout()
        if hold is not None:
            await asyncio.sleep(hold)

    def reset(self) -> None:
        """Knobs return to the start configuration; counters to zero."""
        with self._lock:
            self._reset_knobs_locked()

    def close(self) -> None:
        """Nothing runs in the background."""


def keyed_router(
    sandbox: KeyedSandbox, api: APIRouter, refuse: Callable[[int, str], SandboxError]
) -> APIRouter:
    """The vendor's API routes plus /_sandbox control routes (config, stats, reset; the same key
    as the API), without a prefix."""
    router = APIRouter()
    router.include_router(api)
    router.include_router(
        control.control_router(
            sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=refuse
        )
    )
    return router
