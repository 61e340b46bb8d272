"""What the Google and Microsoft OAuth tests do alike: a PKCE verifier and its S256 challenge
(computed here, not by the sandbox), authorize parameters, and a redirect's query."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl, urlsplit

VERIFIER = "v" * 43 + "-._~0123456789"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def with_overrides(params: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """`params` changed by `overrides`; an empty value drops the parameter."""
    merged = {**params, **overrides}
    return {name: value for name, value in merged.items() if value}
