"""Refusals a sandbox route raises, and the route class that answers them in the vendor's shape.

Each vendor keeps its own error class and JSON body (Twilio's `code`/`message`/`more_info`,
SendGrid's `errors` array); what they share is that the error renders itself, with its status and
headers, wherever it is raised inside a route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class SandboxError(Exception):
    """An answer in a vendor's error shape; subclasses set `status`, `headers` and `body()`."""

    status: int
    headers: dict[str, str]

    def body(self) -> dict[str, object]:
        """The JSON the vendor answers with."""
        raise NotImplementedError

    def response(self) -> Response:
        """This error as an HTTP response (JSON unless a vendor's error is a page)."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class SandboxRoute(APIRoute):
    """Renders SandboxError inside the route itself.

    An app-level exception handler would be lost when the product mounts a vendor's router inside
    its own app, so the routes carry their error rendering with them.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def render_sandbox_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except SandboxError as error:
                return error.response()

        return render_sandbox_errors
