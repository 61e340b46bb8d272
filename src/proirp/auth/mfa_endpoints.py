"""Two-step sign-in over the API: the code step of signing in, enrolling an authenticator app,
recovery codes, and an admin's reset of another user's second factor."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from proirp.auth import mfa_login, repository, second_factor
from proirp.auth.dependencies import AdminUser, CurrentUser, SignedInPrincipal, SignedInUser
from proirp.auth.endpoints import signed_in
from proirp.auth.mfa_schemas import (
    CodeRequest,
    EnrolmentAnswer,
    FreshCodeRequest,
    LoginCodeRequest,
    MfaResetAnswer,
    MfaStatusAnswer,
    RecoveryCodesAnswer,
)
from proirp.auth.models import User
from proirp.auth.schemas import LoginOut
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.error_handlers import refusal
from proirp.kit.errors import AppError, NotFound
from proirp.kit.openapi import ErrorBody, errors
from proirp.kit.origin import RequestOrigin

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login/mfa",
    response_model=LoginOut,
    summary="Sign in: the code step",
    description="The second step of signing in to an account with two-step sign-in: the "
    "`challenge` from POST /auth/login's 401 `mfa_required` answer, and a code. Answers as "
    "POST /auth/login does. Wrong codes count in the login limits as wrong passwords do; a "
    "code is accepted once, a recovery code works once, and a challenge lasts 5 minutes and "
    "opens one session.",
    responses={
        **errors(429),
        401: {
            "model": ErrorBody,
            "description": "`invalid_code`: the code is wrong or was used; "
            "`mfa_challenge_expired`: sign in again with the password.",
        },
    },
)
def login_code(
    body: LoginCodeRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> JSONResponse:
    try:
        result = mfa_login.complete_log_in(
            session,
            challenge=body.challenge,
            code=body.code,
            origin=origin,
            throttle=request.app.state.login_throttle,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        )
    except AppError as refused:
        return refusal(refused)
    return signed_in(result, settings)


def _status(session: Session, user: User, settings: Any) -> dict[str, Any]:
    found = second_factor.status(session, user, settings)
    return {
        "enabled": found.enabled,
        "required": found.required,
        "enrolled_at": found.enrolled_at,
        "recovery_codes_left": found.recovery_codes_left,
    }


@router.get("/auth/mfa", response_model=MfaStatusAnswer, summary="Your two-step sign-in")
def mfa_status(user: SignedInUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    return {"ok": True, "mfa": _status(session, user, settings)}


@router.post(
    "/auth/mfa/enrolment",
    response_model=EnrolmentAnswer,
    status_code=201,
    summary="Start enrolling an authenticator app",
    description="A new secret, as an otpauth:// address and its QR code, shown to you alone, "
    "in this session alone; two-step sign-in is on only once a code from it is confirmed in "
    "this session. Starting again replaces an unfinished enrolment. An account held to "
    "enrolling may call this.",
    responses=errors(409),
)
def start_enrolment(
    principal: SignedInPrincipal, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> JSONResponse:
    enrolment = second_factor.start_enrolment(
        session,
        principal.user,
        token_id=principal.token.id,
        origin=origin,
        issuer=settings.practice_name,
    )
    body = {
        "ok": True,
        "enrolment": {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.otpauth_uri,
            "qr_svg": enrolment.qr_svg,
        },
    }
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


def _codes(codes: list[str]) -> JSONResponse:
    return JSONResponse(
        {"ok": True, "recovery_codes": codes}, headers={"Cache-Control": "no-store"}
    )


@router.post(
    "/auth/mfa/enrolment/confirm",
    response_model=RecoveryCodesAnswer,
    summary="Confirm the authenticator app: two-step sign-in is on",
    description="A code from the new secret, sent in the session that started the enrolment "
    "(else 409 `mfa_enrolment_not_started`), turns two-step sign-in on and answers the "
    "recovery codes, shown this once. Every other session and API token of the account ends.",
    responses=errors(409),
)
def confirm_enrolment(
    body: CodeRequest, principal: SignedInPrincipal, session: SessionDep, origin: OriginDep
) -> JSONResponse:
    codes = second_factor.confirm_enrolment(
        session, principal.user, body.code, token_id=principal.token.id, origin=origin
    )
    return _codes(codes)


@router.post(
    "/auth/mfa/recovery-codes",
    response_model=RecoveryCodesAnswer,
    summary="New recovery codes",
    description="A current code from the authenticator app; the old recovery codes stop "
    "working and the new ones are shown this once. Wrong codes count in the login limits.",
    responses=errors(409, 429),
)
def regenerate_recovery_codes(
    body: CodeRequest,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    origin: OriginDep,
) -> JSONResponse:
    try:
        codes = mfa_login.regenerate_with_code(
            session, user, body.code, origin=origin, throttle=request.app.state.login_throttle
        )
    except AppError as refused:
        return refusal(refused)
    return _codes(codes)


def fresh_code_refused(
    request: Request,
    session: Session,
    admin: User,
    target: User,
    body: FreshCodeRequest | None,
    origin: RequestOrigin,
    *,
    new_role: str | None = None,
) -> JSONResponse | None:
    """None when `admin` may change `target`'s account (to `new_role`, for a change of role;
    mfa_login.confirm_fresh_code); else the answer to give, returned so that a wrong code's
    audit row and login count commit."""
    try:
        mfa_login.confirm_fresh_code(
            session,
            admin,
            target,
            body.code if body else None,
            origin=origin,
            throttle=request.app.state.login_throttle,
            new_role=new_role,
        )
    except AppError as refused:
        return refusal(refused)
    return None


@router.post(
    "/users/{user_id}/mfa/reset",
    response_model=MfaResetAnswer,
    summary="Reset another user's two-step sign-in (admins)",
    description="For a lost phone: the user's authenticator app and recovery codes stop "
    "working and their sessions end; they enrol again at their next sign-in. Audited as "
    "MFA_RESET. The secret is never shown. When the user is an admin, the body carries a "
    "current `code` from the acting admin's own app.",
    responses=errors(404, 422, 429),
)
def reset_mfa(
    user_id: Annotated[str, Path(max_length=32)],
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    origin: OriginDep,
    body: FreshCodeRequest | None = None,
) -> Any:
    target = repository.user_by_id(session, user_id)
    if target is None:
        raise NotFound("no user with that id", fields={"user_id": "unknown"})
    refused = fresh_code_refused(request, session, admin, target, body, origin)
    if refused is not None:
        return refused
    had = second_factor.reset(session, target, actor=admin.id, origin=origin)
    return {"ok": True, "had_second_factor": had}
