"""How many requests the app works on at once (see proirp.concurrency): one more is answered at
once with the product's JSON error, 503 `overloaded`, and `Retry-After`.

Uvicorn's own limit counted open connections, idle keep-alive ones too, and answered in plain
text; this one counts only requests being worked on, so many signed-in users with their
connections open are not refused while the server is idle between their requests.

Providers' webhooks (paths under `webhook_prefix`) are counted apart, against a limit of their
own: a status callback is never refused because staff requests filled the server, and a storm of
callbacks never takes the staff's places. Over either limit the answer is the same JSON error.
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
    """Pure ASGI middleware: at most `limit` HTTP requests inside `app` at once, and besides
    them at most `webhook_limit` requests to paths under `webhook_prefix`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        webhook_limit: int = 0,
        webhook_prefix: str = "/webhooks/",
    ) -> None:
        self.app = app
        self.limit = limit
        self.webhook_limit = webhook_limit
        self.webhook_prefix = webhook_prefix
        self.in_flight = 0
        self.webhooks_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.webhook_limit and str(scope.get("path", "")).startswith(self.webhook_prefix):
            await self._webhook(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _refuse(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.webhooks_in_flight >= self.webhook_limit:
            await _refuse(scope, receive, send)
            return
        self.webhooks_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.webhooks_in_flight -= 1


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    error = Overloaded("the server is busy; try again in a moment")
    answer = JSONResponse(
        error.to_body(),
        error.status_code,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    await answer(scope, receive, send)
