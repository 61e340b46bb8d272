"""/healthz: is the database reachable, is the queue reachable. No login needed, no PHI."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from proirp.config import PROVIDER_CREDENTIALS, Settings
from proirp.worker.queue import queue_is_reachable

router = APIRouter(tags=["health"])

_HEALTHY: dict[str, Any] = {
    "ok": True,
    "database": "ok",
    "queue": "ok",
    "queue_backend": "sqlite",
    "mode": "sandbox mode",
    "providers": {
        "twilio": "sandbox",
        "sendgrid": "sandbox",
        "google": "sandbox",
        "microsoft": "sandbox",
    },
}


class HealthOut(BaseModel):
    """Whether the service can work; `ok` is false (and the status 503) when it cannot."""

    model_config = ConfigDict(json_schema_extra={"examples": [_HEALTHY]})

    ok: bool
    database: Literal["ok", "unreachable"]
    queue: Literal["ok", "unreachable"]
    queue_backend: str
    mode: Literal["sandbox mode", "live"]
    providers: dict[str, Literal["configured", "sandbox", "not configured"]]


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="Is the service healthy (no sign-in)",
    responses={503: {"model": HealthOut, "description": "The database or queue is unreachable."}},
)
def healthz(request: Request) -> JSONResponse:
    try:
        # A raw DBAPI connection: no transaction, so no wait behind SQLite's write lock.
        connection = request.app.state.engine.raw_connection()
        try:
            connection.cursor().execute("SELECT 1")
            connection.rollback()
        finally:
            connection.close()
        database = "ok"
    except Exception:  # any failure means the database is not usable
        database = "unreachable"
    queue = "ok" if queue_is_reachable() else "unreachable"
    healthy = database == "ok" and queue == "ok"
    settings = request.app.state.settings
    return JSONResponse(
        {
            "ok": healthy,
            "database": database,
            "queue": queue,
            "queue_backend": settings.queue_backend,
            "mode": "sandbox mode" if settings.sandbox_mode else "live",
            "providers": {name: _provider_state(settings, name) for name in PROVIDER_CREDENTIALS},
        },
        status_code=200 if healthy else 503,
    )


def _provider_state(settings: Settings, name: str) -> str:
    if settings.provider_configured(name):
        return "configured"
    return "sandbox" if settings.sandbox_allowed else "not configured"
