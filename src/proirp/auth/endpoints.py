"""/auth: log in (bearer token + session cookie), log out, who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from proirp.auth import service
from proirp.auth.cookies import clear_session_cookies, set_session_cookies
from proirp.auth.dependencies import SignedInPrincipal, SignedInUser
from proirp.auth.schemas import LoginOut, LoginRequest, MeOut, UserOut
from proirp.auth.secrets import csrf_for
from proirp.auth.service import LoginResult
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.error_handlers import refusal
from proirp.kit.errors import AppError
from proirp.kit.openapi import Done, ErrorBody, errors

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=LoginOut,
    summary="Sign in",
    description="Email and password. For an account with two-step sign-in the password opens "
    "no session: the answer is a 401 `mfa_required` whose `error.challenge` (valid 5 minutes) "
    "goes to POST /auth/login/mfa with a code. An account that must set up two-step sign-in "
    "and has not gets a session that can only enrol (every other route answers 403 "
    "`mfa_enrolment_required`).",
    responses={
        **errors(429),
        401: {
            "model": ErrorBody,
            "description": "`invalid_credentials`: wrong email or password. `mfa_required`: "
            "the password was right; `error.challenge` and `error.expires_in` (seconds) are "
            "for POST /auth/login/mfa.",
        },
    },
)
def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> JSONResponse:
    try:
        result = service.log_in(
            session,
            email=body.email,
            password=body.password,
            origin=origin,
            throttle=request.app.state.login_throttle,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        )
    except AppError as refused:
        # A refused login is itself audited: return the error without raising so that row commits.
        return refusal(refused)

    return signed_in(result, settings)


def signed_in(result: LoginResult, settings: Settings) -> JSONResponse:
    """The answer to a sign-in that opened a session (password, or password then code): the
    token, its CSRF token, and the session cookies."""
    response = JSONResponse(
        {
            "ok": True,
            "token": result.token,
            "csrf_token": csrf_for(result.token),
            "expires_in": result.expires_in_seconds,
            "user": UserOut.model_validate(result.user).model_dump(mode="json"),
        }
    )
    set_session_cookies(response, result, settings)
    return response


@router.post("/logout", response_model=Done, summary="Sign out (revoke this session's token)")
def logout(principal: SignedInPrincipal, session: SessionDep, origin: OriginDep) -> JSONResponse:
    service.log_out(session, principal, origin=origin)
    response = JSONResponse({"ok": True})
    clear_session_cookies(response)
    return response


@router.get("/me", response_model=MeOut, summary="Who is signed in")
def me(user: SignedInUser) -> dict[str, Any]:
    return {"ok": True, "user": UserOut.model_validate(user).model_dump(mode="json")}
