"""SendGrid's `GET /v3/scopes`: the scopes of the API key the request carries, as the official SDK
calls it (`SendGridAPIClient(key, host=…).client.scopes.get()`).

The sandbox has one key; what it may do is the `api_key_scopes` knob, so a test can imitate a
key without "mail.send" (e.g. one made for reading stats only).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.sendgrid.state import SendGridSandbox

SCOPES_PATH = "/v3/scopes"


def scopes_router(sandbox: SendGridSandbox) -> APIRouter:
    """The route that lists the key's scopes (read-only; it sends nothing and counts nothing)."""
    router = APIRouter(route_class=SandboxRoute, tags=["sendgrid"])

    @router.get(SCOPES_PATH)
    async def list_scopes(request: Request) -> Response:
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        sandbox.authenticate(request.headers.get("authorization"))
        return JSONResponse({"scopes": sandbox.knobs()["api_key_scopes"]})

    return router
