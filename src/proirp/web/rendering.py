"""The pages' templates (Jinja2, autoescaped) and what every page is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from proirp.auth.dependencies import SESSION_COOKIE
from proirp.auth.models import Role, User
from proirp.auth.secrets import csrf_for
from proirp.config import Settings

HERE = Path(__file__).parent
PREFIX = "/app"
STATIC_PATH = f"{PREFIX}/static"
# Scripts, styles and images only from here; forms post only here; nothing frames a page.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["quote"] = quote

# (path, label, roles allowed or None for everyone)
NAV: list[tuple[str, str, frozenset[Role] | None]] = [
    (f"{PREFIX}/", "Today", None),
    (f"{PREFIX}/clients", "Clients", None),
    (f"{PREFIX}/inbox", "Inbox", None),
    (f"{PREFIX}/calendar", "Calendar", None),
    (f"{PREFIX}/campaigns", "Campaigns", None),
    (f"{PREFIX}/templates", "Templates", None),
    (f"{PREFIX}/settings", "Settings", None),
    (f"{PREFIX}/audit", "Audit log", frozenset({Role.ADMIN})),
    (f"{PREFIX}/staff", "Staff", frozenset({Role.ADMIN})),
    (f"{PREFIX}/break-glass", "Emergency access", frozenset({Role.ADMIN, Role.CLINICIAN})),
]


def csrf_token(request: Request) -> str:
    """The token forms carry: derived from the session cookie, as the API's X-CSRF-Token is."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return csrf_for(cookie) if cookie else ""


def render(
    request: Request,
    name: str,
    *,
    user: User | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    nav = [
        (path, label)
        for path, label, roles in NAV
        if user is not None and (roles is None or user.role in roles)
    ]
    base = {
        "user": user,
        "nav": nav,
        "path": request.url.path,
        "csrf_token": csrf_token(request),
        "practice_name": settings.practice_name,
        "sandbox_mode": settings.sandbox_mode,
        "static": STATIC_PATH,
        "prefix": PREFIX,
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response
