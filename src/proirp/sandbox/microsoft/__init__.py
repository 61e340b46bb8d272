"""The Microsoft part of the provider sandbox: the identity platform v2.0 (discovery, consent
page, authorization codes with PKCE, rotating refresh tokens, revocation) and Microsoft Graph v1.0
(/me, events, calendarView with paging, calendarView/delta, Outlook's per-mailbox throttling).

msal only accepts an https:// authority, so the product reaches this part over the sandbox's TLS
listener (see proirp.sandbox.tls): authority `<https root>/microsoft/login/<tenant>`, Graph base
`<https root>/microsoft/graph/v1.0`; clients trust the sandbox's `ca.pem`.
"""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.microsoft.control import control_router
from proirp.sandbox.microsoft.graph import graph_router
from proirp.sandbox.microsoft.identity import identity_router
from proirp.sandbox.microsoft.state import MicrosoftSandbox

__all__ = ["MicrosoftSandbox", "microsoft_router"]


def microsoft_router(sandbox: MicrosoftSandbox) -> APIRouter:
    """Microsoft's sign-in tree (/login), Graph tree (/graph) and the /_sandbox control routes."""
    router = APIRouter()
    router.include_router(identity_router(sandbox), prefix="/login")
    router.include_router(graph_router(sandbox), prefix="/graph")
    router.include_router(control_router(sandbox))
    return router
