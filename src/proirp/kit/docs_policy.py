"""The Content-Security-Policy of the API reference pages (/docs, its OAuth redirect, /redoc).

Made from the very pages FastAPI serves: their inline scripts are allowed by hash, and the hosts
their scripts, stylesheets and icon come from by name; they may fetch /openapi.json. Swagger UI
and ReDoc set styles at run time, hence 'unsafe-inline' for styles (never for scripts); ReDoc
runs a worker from a blob and Google Fonts serves its fonts from fonts.gstatic.com. The hashes
hold while the app is served at its root (no --root-path), as `proirp serve` does.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)

from proirp.kit.security_headers import source_hash

GOOGLE_FONTS = "https://fonts.gstatic.com"


class _PageSources(HTMLParser):
    """Where a page's scripts, stylesheets and icons come from, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: set[str] = set()
        self.styles: set[str] = set()
        self.images: set[str] = set()
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            if values.get("src"):
                self.scripts.add(_origin(values["src"]))
            else:
                self._in_inline_script = True
                self.inline_scripts.append("")
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.styles.add(_origin(values.get("href", "")))
        elif tag == "link" and "icon" in values.get("rel", ""):
            self.images.add(_origin(values.get("href", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


def reference_pages(app: FastAPI) -> dict[str, str]:
    """The HTML FastAPI serves at each API reference path of `app`."""
    assert app.openapi_url is not None
    pages: dict[str, str] = {}
    redirect = app.swagger_ui_oauth2_redirect_url
    if app.docs_url:
        pages[app.docs_url] = bytes(
            get_swagger_ui_html(
                openapi_url=app.openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=redirect,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            ).body
        ).decode()
        if redirect:
            pages[redirect] = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
    if app.redoc_url:
        page = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc")
        pages[app.redoc_url] = bytes(page.body).decode()
    return pages


def docs_policies(app: FastAPI) -> dict[str, str]:
    """{path: Content-Security-Policy} for the API reference pages of `app`."""
    pages = reference_pages(app)
    found = _PageSources()
    for page in pages.values():
        found.feed(page)
    hashes = {source_hash(script) for script in found.inline_scripts}
    fonts = {GOOGLE_FONTS} if "https://fonts.googleapis.com" in found.styles else set()
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(sorted(found.scripts | hashes)),
            "style-src " + " ".join(sorted(found.styles | {"'unsafe-inline'"})),
            "img-src " + " ".join(sorted(found.images | {"'self'", "data:"})),
            *(["font-src " + " ".join(sorted(fonts))] if fonts else []),
            "connect-src 'self'",
            "worker-src blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return dict.fromkeys(pages, policy)
