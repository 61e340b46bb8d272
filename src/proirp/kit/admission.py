"""How many requests the app works on at once (see proirp.concurrency): one more is answered at
once with the product's JSON error, 503 `overloaded`, and `Retry-After`.

Uvicorn's own limit counted open connections, idle keep-alive ones too, and answered in plain
text; this one counts only requests being worked on, so many signed-in users with their
connections open are not refused while the server is idle between their requests.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from proirp.kit.errors import AppError

RETRY_AFTER_SECONDS = 1


class Overloaded(AppError):
    status_code = 503
    code = "overloaded"


class AdmissionLimit:
    """Pure ASGI middleware: at most `limit` HTTP requests inside `app` at once."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            error = Overloaded("the server is busy; try again in a moment")
            answer = JSONResponse(
                error.to_body(),
                error.status_code,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await answer(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
