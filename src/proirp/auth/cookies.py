"""The browser session's cookies: the session token (HttpOnly) and its CSRF token, which a
front end reads and sends back as X-CSRF-Token (forms carry it as a hidden field)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from proirp.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE
from proirp.auth.secrets import csrf_for
from proirp.auth.service import LoginResult
from proirp.config import Settings


def set_session_cookies(response: Response, result: LoginResult, settings: Settings) -> None:
    """SameSite=Lax for the session (a link from an email opens a signed-in page),
    Strict for the CSRF token; Secure whenever the product is served over https."""
    secure = settings.base_url.startswith("https://")
    cookie: dict[str, Any] = {"max_age": result.expires_in_seconds, "secure": secure}
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax", **cookie)
    response.set_cookie(
        CSRF_COOKIE, csrf_for(result.token), httponly=False, samesite="strict", **cookie
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
