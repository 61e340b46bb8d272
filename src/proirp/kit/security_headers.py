"""Security headers on every answer, and the Content-Security-Policy of each kind of page.

Every answer: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy:
no-referrer` (links carry tokens: an unsubscribe link, an OAuth callback), `Cache-Control:
no-store` (answers carry PHI and tokens) unless the answer chose its own, HSTS in production,
and a Content-Security-Policy: the answer's own if it set one, else its path's, else STRICT
(nothing loads, runs or frames it). Pages of our own that need an inline style name it by hash
(`page_policy`); the API reference has its own (kit/docs_policy.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"  # two years, as hstspreload.org asks


def source_hash(text: str) -> str:
    """The CSP source allowing exactly this inline script or style."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def page_policy(*, styles: Iterable[str] = ()) -> str:
    """STRICT, with these inline `<style>` elements allowed by their hashes."""
    hashes = " ".join(source_hash(style) for style in styles)
    return f"{STRICT}; style-src {hashes}" if hashes else STRICT


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above. `policies` maps a path, or a prefix ending
    in "/", to its own Content-Security-Policy."""

    def __init__(self, app: ASGIApp, *, hsts: bool, policies: Mapping[str, str]) -> None:
        self.app = app
        self.hsts = hsts
        self.policies = dict(policies)

    def policy_for(self, path: str) -> str:
        for prefix, policy in self.policies.items():
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return policy
        return STRICT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("Content-Security-Policy", policy)
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
