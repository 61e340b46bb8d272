"""The SendGrid part of the provider sandbox: Mail Send, the key's scopes, dynamic templates,
signed Event Webhook.

Point the official SDK at it with `SendGridAPIClient(api_key, host="<sandbox root>/sendgrid")`.
Recipient addresses pick what happens after a send (`…+bounce@…`, `…+unsub@…`; see events.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.sendgrid.api import mail_router
from proirp.sandbox.sendgrid.control import control_router
from proirp.sandbox.sendgrid.scopes import scopes_router
from proirp.sandbox.sendgrid.state import SendGridSandbox

__all__ = ["SendGridSandbox", "sendgrid_router"]


def sendgrid_router(sandbox: SendGridSandbox) -> APIRouter:
    """SendGrid's API tree plus the sandbox's /_sandbox control routes, without a prefix."""
    router = APIRouter()
    router.include_router(mail_router(sandbox))
    router.include_router(scopes_router(sandbox))
    router.include_router(control_router(sandbox))
    return router
