"""The access log, the request id, and the last word on an unhandled error.

Each request gets an id, sent back as `X-Request-ID` and bound to every log line written while
it runs, and one `http.request` line when it ends: method, path as its route names it
(`/unsubscribe/{token}`, never the token; no query string), status and duration. The client's
address is not logged (HIPAA counts it as an identifier).

An error nothing else handled is answered with the product's 500 and logged as
`http.unhandled_error`: its type, where it was raised, the route and the request id; never its
text, which can hold what a client typed or a statement's values. It goes no further, so the
server does not log it again with its traceback.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proirp.kit.errors import AppError

log = structlog.get_logger("proirp.http")
REQUEST_ID_HEADER = "X-Request-ID"


def route_path(scope: Scope) -> str | None:
    """The request's path with each path parameter's value replaced by its name, as its route
    declares it (`/unsubscribe/{token}`); None if no route matched (the path itself, typed by
    anyone, is not logged)."""
    if scope.get("route") is None:
        return None
    path = str(scope["path"])
    params: dict[str, Any] = scope.get("path_params", {})
    for name, value in sorted(params.items(), key=lambda item: -len(str(item[1]))):
        if str(value):
            path = re.sub(f"/{re.escape(str(value))}(?=/|$)", f"/{{{name}}}", path)
    return path


def request_id_of(scope: Scope) -> str | None:
    state: dict[str, Any] = scope.get("state", {})
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else None


def unhandled_error(scope: Scope, exc: Exception) -> JSONResponse:
    """Log `exc` by its type, route and request id; the 500 to answer with."""
    log.error(
        "http.unhandled_error",
        method=scope.get("method"),
        path=route_path(scope),
        request_id=request_id_of(scope),
        exc_info=exc,
    )
    body = AppError("something went wrong on our side; it has been logged", code="internal_error")
    return JSONResponse(body.to_body(), status_code=500)


class RequestLog:
    """Pure ASGI middleware: the request id, the access log line, unhandled errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                answer = unhandled_error(scope, exc)
                if status is None:  # else the answer has begun: the client sees it cut short
                    await answer(scope, receive, send_with_id)
            log.info(
                "http.request",
                method=scope["method"],
                path=route_path(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
