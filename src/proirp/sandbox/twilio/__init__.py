"""The Twilio part of the provider sandbox: Messages and Media API, FetchAccount, status callbacks,
inbound SMS and MMS."""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.twilio.accounts import accounts_router
from proirp.sandbox.twilio.api import messages_router
from proirp.sandbox.twilio.control import control_router
from proirp.sandbox.twilio.media_api import media_router
from proirp.sandbox.twilio.state import TwilioSandbox

__all__ = ["TwilioSandbox", "twilio_router"]


def twilio_router(sandbox: TwilioSandbox) -> APIRouter:
    """Twilio's API tree plus the sandbox's /_sandbox control routes, without a prefix."""
    router = APIRouter()
    router.include_router(messages_router(sandbox))
    router.include_router(media_router(sandbox))
    router.include_router(accounts_router(sandbox))
    router.include_router(control_router(sandbox))
    return router
