"""The provider sandbox as a FastAPI app, or as a router the product mounts inside itself.

Each vendor lives in its own subpackage (twilio/, sendgrid/, google/; microsoft/ later) and
contributes a router mounted under its name, so the Twilio API base is `<root>/twilio`, the
SendGrid SDK's host is `<root>/sendgrid` and Google's bases are `<root>/google/oauth` and
`<root>/google/api`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.google import GoogleSandbox, google_router
from proirp.sandbox.sendgrid import SendGridSandbox, sendgrid_router
from proirp.sandbox.twilio import TwilioSandbox, twilio_router

__all__ = ["Sandbox", "SandboxConfig", "create_sandbox_app", "sandbox_router"]


class Sandbox:
    """The state of every imitated vendor for one sandbox run."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.twilio = TwilioSandbox(config)
        self.sendgrid = SendGridSandbox(config)
        self.google = GoogleSandbox(config)

    def reset(self) -> None:
        """Return every vendor to its start state."""
        self.twilio.reset()
        self.sendgrid.reset()
        self.google.reset()

    def close(self) -> None:
        """Stop background work (status callbacks and events in flight are dropped)."""
        self.twilio.close()
        self.sendgrid.close()
        self.google.close()


def sandbox_router(sandbox: Sandbox) -> APIRouter:
    """All vendor trees (`/twilio/...`, `/sendgrid/...`, `/google/...`), relative to wherever the
    caller mounts them."""
    router = APIRouter()
    router.include_router(twilio_router(sandbox.twilio), prefix="/twilio")
    router.include_router(sendgrid_router(sandbox.sendgrid), prefix="/sendgrid")
    router.include_router(google_router(sandbox.google), prefix="/google")
    return router


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    """A standalone sandbox app; its state is `app.state.sandbox` (and `app.state.twilio`,
    `app.state.sendgrid`, `app.state.google`)."""
    sandbox = Sandbox(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.close()

    app = FastAPI(title="Pro IRP provider sandbox", lifespan=lifespan)
    app.state.sandbox = sandbox
    app.state.twilio = sandbox.twilio
    app.state.sendgrid = sandbox.sendgrid
    app.state.google = sandbox.google
    app.include_router(sandbox_router(sandbox))

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, object]:
        vendors = {
            "twilio": "/twilio/2010-04-01",
            "sendgrid": "/sendgrid/v3",
            "google": {"oauth": "/google/oauth", "api": "/google/api"},
        }
        return {"sandbox": True, "vendors": vendors}

    return app
