"""The provider sandbox as a FastAPI app, or as a router the product mounts inside itself.

Each vendor lives in its own subpackage (twilio/ now; sendgrid/, google/, microsoft/ later) and
contributes a router mounted under its name, so the Twilio API base is `<root>/twilio`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.twilio import TwilioSandbox, twilio_router

__all__ = ["Sandbox", "SandboxConfig", "create_sandbox_app", "sandbox_router"]


class Sandbox:
    """The state of every imitated vendor for one sandbox run."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.twilio = TwilioSandbox(config)

    def reset(self) -> None:
        """Return every vendor to its start state."""
        self.twilio.reset()

    def close(self) -> None:
        """Stop background work (status callbacks in flight are dropped)."""
        self.twilio.close()


def sandbox_router(sandbox: Sandbox) -> APIRouter:
    """All vendor trees (`/twilio/...`), relative to wherever the caller mounts them."""
    router = APIRouter()
    router.include_router(twilio_router(sandbox.twilio), prefix="/twilio")
    return router


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    """A standalone sandbox app; its state is `app.state.sandbox` (and `app.state.twilio`)."""
    sandbox = Sandbox(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.close()

    app = FastAPI(title="Pro IRP provider sandbox", lifespan=lifespan)
    app.state.sandbox = sandbox
    app.state.twilio = sandbox.twilio
    app.include_router(sandbox_router(sandbox))

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, object]:
        return {"sandbox": True, "vendors": {"twilio": "/twilio/2010-04-01"}}

    return app
