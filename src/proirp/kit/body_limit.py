"""A limit on request bodies, per address, enforced before the app sees the request.

A body over its limit is answered 413 in the product's error shape before anything (sign-in,
a webhook's signature check, parsing) has run: at once when its Content-Length says so, or as
soon as a body sent without one (chunked) passes the limit. The body is read here, up to the
limit, and handed to the app as it came; nothing past the limit is ever kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proirp.kit.errors import AppError


class BodyTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body is larger than {limit} bytes, the most this address accepts",
            fields={"body": f"is larger than {limit} bytes"},
        )


class BodySizeLimit:
    """Pure ASGI middleware: `default` bytes for every path but those in `limits` (a path, or a
    prefix ending in "/", mapped to its own limit)."""

    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was whole: nobody to answer
            received.append(message)
            size += len(message.get("body", b""))
            if size > limit:
                await _too_large(limit, scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    error = BodyTooLarge(limit)
    # Close the connection: what is left of the body is never read.
    answer = JSONResponse(error.to_body(), error.status_code, headers={"Connection": "close"})
    await answer(scope, receive, send)
