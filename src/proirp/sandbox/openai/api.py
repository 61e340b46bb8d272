"""OpenAI's `GET /v1/models` (List models), as the official SDK calls it:
`OpenAI(api_key=…, base_url="<sandbox root>/openai/v1").models.list()`.

Requests are read by hand so every refusal comes back in OpenAI's error shape. Checks run in the
live API's order: key, then the request.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.openai.state import OpenAISandbox

MODELS_PATH = "/v1/models"

# (id, created, owned_by) of the models the sandbox lists, as the live API reports them.
MODELS: tuple[tuple[str, int, str], ...] = (
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4o", 1715367049, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("whisper-1", 1677532384, "openai-internal"),
)


def models_router(sandbox: OpenAISandbox) -> APIRouter:
    """The List models route."""
    router = APIRouter(route_class=SandboxRoute, tags=["openai"])

    @router.get(MODELS_PATH)
    async def list_models(request: Request) -> Response:
        request_id = {"x-request-id": "req_" + secrets.token_hex(16)}
        await sandbox.admit(request, request_id)
        data = [
            {"id": model_id, "object": "model", "created": created, "owned_by": owner}
            for model_id, created, owner in MODELS
        ]
        return JSONResponse({"object": "list", "data": data}, headers=request_id)

    return router
