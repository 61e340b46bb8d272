"""Security headers on every answer: nothing is sniffed, framed, cached or sent on as a Referer;
HTML pages run only what their policy names; the API reference still loads under its own."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from httpx import Response


class PageParts(HTMLParser):
    """A page's inline scripts and styles, and where its external scripts and styles come from."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self.external: dict[str, list[str]] = {"script": [], "style": []}
        self.handlers: list[str] = []
        self._open: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script" and values.get("src"):
            self.external["script"].append(values["src"] or "")
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.external["style"].append(values.get("href") or "")
        elif tag in ("script", "style"):
            self._open = tag
            self.inline[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline[self._open][-1] += data


def policy(answer: Response) -> dict[str, list[str]]:
    directives = answer.headers["content-security-policy"].split(";")
    parsed = [d.split() for d in directives if d.strip()]
    return {name: sources for name, *sources in parsed}


def sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


def test_every_answer_carries_the_security_headers(api: TestClient) -> None:
    answers = [
        api.get("/healthz"),
        api.get("/clients"),  # 401
        api.get("/no-such-page"),
        api.post("/auth/login", json={}),  # 422
        api.get("/openapi.json"),
    ]
    for answer in answers:
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", answer.url
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert policy(answer)["default-src"] == ["'none'"]
        assert policy(answer)["frame-ancestors"] == ["'none'"]
        # HSTS only in production (`proirp serve` in production: tests/test_serve.py).
        assert "strict-transport-security" not in headers


def test_the_unsubscribe_page_cannot_be_framed_and_runs_only_its_own_style(
    api: TestClient,
) -> None:
    page = api.get("/unsubscribe/not-a-token")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    rules = policy(page)
    assert rules["default-src"] == ["'none'"]
    assert rules["frame-ancestors"] == ["'none'"]
    assert rules["form-action"] == ["'self'"]
    assert "script-src" not in rules
    parts = PageParts(page.text)
    assert parts.inline["style"]
    assert rules["style-src"] == [sha256(style) for style in parts.inline["style"]]
    assert not parts.inline["script"] and not parts.handlers


def test_the_api_reference_pages_load_under_their_own_policy(api: TestClient) -> None:
    """/docs (Swagger UI), its OAuth redirect page and /redoc run their inline bootstrap scripts
    (allowed by hash), load their scripts and styles from the CDN they name, and fetch
    /openapi.json; they cannot be framed either."""
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        page = api.get(path)
        assert page.status_code == 200
        rules = policy(page)
        parts = PageParts(page.text)
        assert not parts.handlers, path
        for script in parts.inline["script"]:
            assert sha256(script) in rules["script-src"], path
        for url in parts.external["script"]:
            assert origin(url) in rules["script-src"], (path, url)
        for url in parts.external["style"]:
            assert origin(url) in rules["style-src"], (path, url)
        if parts.inline["style"]:
            assert "'unsafe-inline'" in rules["style-src"]
        assert "'self'" in rules["connect-src"]
        assert rules["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in rules.get("script-src", [])
        assert page.headers["x-frame-options"] == "DENY"


def test_the_mounted_sandbox_pages_cannot_be_framed(api: TestClient) -> None:
    """The sandbox imitates the providers' own pages (a consent form that posts back to the
    product): it keeps its scripts and forms, but is never framed, sniffed or cached."""
    page = api.get("/sandbox/google/oauth/o/oauth2/v2/auth")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert policy(page) == {"frame-ancestors": ["'none'"]}
