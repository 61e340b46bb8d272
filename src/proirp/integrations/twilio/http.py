"""The SDK's HTTP client, pointed at TWILIO_API_BASE and remembering each answer's headers.

The SDK always builds https://api.twilio.com/... URLs; rewriting the origin here lets the same
official client talk to the provider sandbox. Headers are kept (per thread) because the SDK's
exception drops them, and Retry-After lives there.
"""

from __future__ import annotations

import threading
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

TWILIO_ORIGIN = "https://api.twilio.com"


class BaseUrlHttpClient(TwilioHttpClient):
    def __init__(self, api_base: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.api_base = api_base.rstrip("/")
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_ORIGIN):
            url = self.api_base + url[len(TWILIO_ORIGIN) :]
        self._local.headers = {}
        response: Response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    def last_headers(self) -> dict[str, str]:
        headers: dict[str, str] = getattr(self._local, "headers", {})
        return headers
