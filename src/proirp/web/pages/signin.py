"""Sign in (the password, then a code for an account with two-step sign-in) and sign out.

The sign-in forms have no session yet to derive their CSRF token from: each carries a random
token that is also set as a short-lived cookie, and the two must match (a double-submit token)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from proirp.auth import mfa_login, service
from proirp.auth.cookies import clear_session_cookies, set_session_cookies
from proirp.auth.second_factor import MAX_CODE_LENGTH, SecondFactorRequired
from proirp.auth.service import LoginResult, Principal
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import AppError
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import (
    CSRF_FIELD,
    CheckedForm,
    EnrollingPageUser,
    field,
    page_router,
    read_form,
)

router = page_router()

SIGNIN_COOKIE = "proirp_signin"
EMAIL_MAX = 254
PASSWORD_MAX = 1024
CHALLENGE_MAX = 100


def safe_next(target: str | None) -> str:
    """Only a page of this product: never another site (an open redirect)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/"


def _form(
    request: Request,
    target: str,
    *,
    error: str | None = None,
    status: int = 200,
    challenge: str | None = None,
) -> Response:
    """The password form, or with `challenge` the code form that follows it."""
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "signin_code.html" if challenge else "signin.html",
        status_code=status,
        signin_token=token,
        next=target,
        error=error,
        challenge=challenge,
    )
    response.headers["Cache-Control"] = "no-store"
    secure = request.app.state.settings.base_url.startswith("https://")
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=secure
    )
    return response


@router.get("/signin")
def signin_page(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    return _form(request, safe_next(next))


@router.post("/signin")
def signin(
    request: Request,
    form: Annotated[FormData, Depends(read_form)],
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    target = safe_next(field(form, "next"))
    if not _token_matches(request, form):
        return _form(
            request, target, error="The form had expired. Please sign in again.", status=403
        )
    email = field(form, "email")
    password = form.get("password")
    if not email or len(email) > EMAIL_MAX:
        return _form(request, target, error="Enter your email address.", status=422)
    if not isinstance(password, str) or not password or len(password) > PASSWORD_MAX:
        return _form(request, target, error="Enter your password.", status=422)
    try:
        result = service.log_in(
            session,
            email=email,
            password=password,
            origin=origin,
            throttle=request.app.state.login_throttle,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        )
    except SecondFactorRequired as asked:
        return _form(request, target, challenge=asked.challenge)
    except AppError as refused:
        # Returned, not raised: the refused sign-in's audit row commits with the request.
        message = refused.message if refused.status_code == 429 else None
        return _form(
            request,
            target,
            error=message or "That email and password do not match an active account.",
            status=refused.status_code,
        )
    return _signed_in(target, result, settings)


def _token_matches(request: Request, form: FormData) -> bool:
    presented = form.get(CSRF_FIELD)
    expected = request.cookies.get(SIGNIN_COOKIE)
    return bool(expected) and isinstance(presented, str) and presented == expected


def _signed_in(target: str, result: LoginResult, settings: Settings) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, result, settings)
    response.delete_cookie(SIGNIN_COOKIE)
    return response


CODE_WORDS = {
    "invalid_code": "That code is not right, or was already used. Type the code your app shows "
    "now (a new one comes every 30 seconds), or a recovery code.",
}


@router.post("/signin/code")
def signin_code(
    request: Request,
    form: Annotated[FormData, Depends(read_form)],
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """The second step: the challenge the password was answered with, and a code."""
    target = safe_next(field(form, "next"))
    challenge = field(form, "challenge")
    if not _token_matches(request, form) or not challenge or len(challenge) > CHALLENGE_MAX:
        return _form(
            request, target, error="The form had expired. Please sign in again.", status=403
        )
    code = field(form, "code")
    if not code or len(code) > MAX_CODE_LENGTH:
        return _form(request, target, error="Enter your code.", status=422, challenge=challenge)
    try:
        result = mfa_login.complete_log_in(
            session,
            challenge=challenge,
            code=code,
            origin=origin,
            throttle=request.app.state.login_throttle,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        )
    except AppError as refused:
        # Returned, not raised: the wrong code's audit row and login count commit.
        if refused.code == "mfa_challenge_expired":
            message = "That sign-in had expired. Please sign in again."
            return _form(request, target, error=message, status=refused.status_code)
        message = CODE_WORDS.get(refused.code, refused.message)
        return _form(
            request, target, error=message, status=refused.status_code, challenge=challenge
        )
    return _signed_in(target, result, settings)


@router.post("/signout")
def signout(
    request: Request,
    user: EnrollingPageUser,
    _form: CheckedForm,
    session: SessionDep,
    origin: OriginDep,
) -> Response:
    service.log_out(session, Principal(user, request.state.page_token), origin=origin)
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    clear_session_cookies(response)
    return response
