"""The provider sandbox as a FastAPI app, or as a router the product mounts inside itself.

Each vendor lives in its own subpackage (twilio/, sendgrid/, google/, microsoft/, openai/,
stripe/) and contributes a router mounted under its name, so the Twilio API base is
`<root>/twilio`, the SendGrid SDK's host is `<root>/sendgrid`, Google's bases are
`<root>/google/oauth` and `<root>/google/api`, and Microsoft's are `<root>/microsoft/login/<tenant>`
(the msal authority) and `<root>/microsoft/graph/v1.0` (msal needs that root on https: see
proirp.sandbox.tls).
OpenAI: the SDK's base_url is `<root>/openai/v1` (List models, to check a key).
Stripe: the SDK's api base address is `<root>/stripe` (Retrieve balance, to check a key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from proirp.config.sandbox_credentials import (
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.google import GoogleSandbox, google_router
from proirp.sandbox.microsoft import MicrosoftSandbox, microsoft_router
from proirp.sandbox.openai import OpenAISandbox, openai_router
from proirp.sandbox.sendgrid import SendGridSandbox, sendgrid_router
from proirp.sandbox.stripe import StripeSandbox, stripe_router
from proirp.sandbox.twilio import TwilioSandbox, twilio_router

__all__ = ["Sandbox", "SandboxConfig", "create_sandbox_app", "sandbox_router"]


class Sandbox:
    """The state of every imitated vendor for one sandbox run."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.twilio = TwilioSandbox(config)
        self.sendgrid = SendGridSandbox(config)
        self.google = GoogleSandbox(config)
        self.microsoft = MicrosoftSandbox(config)
        self.openai = OpenAISandbox(config)
        self.stripe = StripeSandbox(config)

    def reset(self) -> None:
        """Return every vendor to its start state."""
        self.twilio.reset()
        self.sendgrid.reset()
        self.google.reset()
        self.microsoft.reset()
        self.openai.reset()
        self.stripe.reset()

    def close(self) -> None:
        """Stop background work (status callbacks and events in flight are dropped)."""
        self.twilio.close()
        self.sendgrid.close()
        self.google.close()
        self.microsoft.close()
        self.openai.close()
        self.stripe.close()


def sandbox_router(sandbox: Sandbox) -> APIRouter:
    """All vendor trees (`/twilio/...`, `/sendgrid/...`, `/google/...`, `/microsoft/...`,
    `/openai/...`, `/stripe/...`), relative to wherever the caller mounts them."""
    router = APIRouter()
    router.include_router(twilio_router(sandbox.twilio), prefix="/twilio")
    router.include_router(sendgrid_router(sandbox.sendgrid), prefix="/sendgrid")
    router.include_router(google_router(sandbox.google), prefix="/google")
    router.include_router(microsoft_router(sandbox.microsoft), prefix="/microsoft")
    router.include_router(openai_router(sandbox.openai), prefix="/openai")
    router.include_router(stripe_router(sandbox.stripe), prefix="/stripe")
    return router


def accepted_credentials(config: SandboxConfig) -> dict[str, str]:
    """For each vendor, whether the sandbox accepts its own published credentials
    ("published") or those configured where it was started ("configured"); never the values."""
    # Every credential of a SandboxConfig defaults to the published one but Twilio's.
    published = SandboxConfig(
        twilio_account_sid=SANDBOX_TWILIO_ACCOUNT_SID, twilio_auth_token=SANDBOX_TWILIO_AUTH_TOKEN
    )
    fields = {
        "twilio": ("twilio_account_sid", "twilio_auth_token"),
        "sendgrid": ("sendgrid_api_key",),
        "google": ("google_client_id", "google_client_secret"),
        "microsoft": ("microsoft_client_id", "microsoft_client_secret"),
        "openai": ("openai_api_key",),
        "stripe": ("stripe_secret_key",),
    }
    return {
        vendor: "published"
        if all(getattr(config, name) == getattr(published, name) for name in names)
        else "configured"
        for vendor, names in fields.items()
    }


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    """A standalone sandbox app; its state is `app.state.sandbox` (and `app.state.twilio`,
    `app.state.sendgrid`, `app.state.google`, `app.state.microsoft`, `app.state.openai`,
    `app.state.stripe`)."""
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
    app.state.microsoft = sandbox.microsoft
    app.state.openai = sandbox.openai
    app.state.stripe = sandbox.stripe
    app.include_router(sandbox_router(sandbox))

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, object]:
        vendors = {
            "twilio": "/twilio/2010-04-01",
            "sendgrid": "/sendgrid/v3",
            "google": {"oauth": "/google/oauth", "api": "/google/api"},
            # Over https only as far as msal is concerned (the sandbox's TLS listener).
            "microsoft": {
                "authority": "/microsoft/login/common",
                "graph": "/microsoft/graph/v1.0",
            },
            "openai": "/openai/v1",
            "stripe": "/stripe/v1",
        }
        tls = {"port": config.tls_port, "ca_bundle": config.tls_ca_path}
        return {
            "sandbox": True,
            "vendors": vendors,
            "tls": tls if config.tls_port is not None else None,
            "credentials": accepted_credentials(config),
        }

    return app
