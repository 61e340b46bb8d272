"""/users (admins): list staff, disable, enable, change a role, issue a password reset link;
/auth/logout-everywhere; and /auth/password-reset, where a reset link sets a new password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.service import RequestOrigin
from proirp.auth import password_reset, repository, staff
from proirp.auth.cookies import clear_session_cookies
from proirp.auth.dependencies import AdminUser, CurrentUser
from proirp.auth.mfa_endpoints import fresh_code_refused
from proirp.auth.mfa_schemas import FreshCodeRequest
from proirp.auth.models import User
from proirp.auth.schemas import UserOut
from proirp.auth.staff_schemas import (
    ResetIn,
    ResetLinkAnswer,
    RoleIn,
    SignedOutOut,
    UserAnswer,
    UsersOut,
)
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.error_handlers import refusal
from proirp.kit.openapi import Done, errors
from proirp.kit.pagination import Cursor, PageParams, page_params

router = APIRouter(tags=["staff"])
UserId = Annotated[str, Path(max_length=32)]
Page = Annotated[PageParams, Depends(page_params)]


def _user(user: User) -> dict[str, Any]:
    return {"ok": True, "user": UserOut.model_validate(user).model_dump(mode="json")}


def _refused(
    request: Request,
    session: Session,
    admin: User,
    user_id: str,
    body: FreshCodeRequest | None,
    origin: RequestOrigin,
    *,
    disabling: bool = False,
    new_role: str | None = None,
) -> JSONResponse | None:
    """The answer refusing `admin`'s change to `user_id`'s account before it is made (the last
    active admin's, told first; an admin's, or making one, without the acting admin's current
    code), or None. An unknown account is left to the change itself (404)."""
    target = repository.user_by_id(session, user_id)
    if target is None:
        return None
    staff.refuse_what_keeps_no_admin(session, target, disabling=disabling, new_role=new_role)
    return fresh_code_refused(request, session, admin, target, body, origin, new_role=new_role)


@router.get("/users", response_model=UsersOut, summary="Staff accounts, newest first (admins)")
def list_users(_admin: AdminUser, session: SessionDep, page: Page) -> dict[str, Any]:
    stmt = select(User)
    if page.cursor is not None:
        stmt = stmt.where(page.cursor.before(User.created_at, User.id))
    stmt = stmt.order_by(User.created_at.desc(), User.id.desc()).limit(page.limit + 1)
    rows = list(session.scalars(stmt))
    users, more = rows[: page.limit], len(rows) > page.limit
    return {
        "ok": True,
        "users": [UserOut.model_validate(u).model_dump(mode="json") for u in users],
        "next_cursor": Cursor(users[-1].created_at, users[-1].id).encode() if more else None,
    }


@router.post(
    "/users/{user_id}/disable",
    response_model=UserAnswer,
    summary="Disable an account: its sessions and tokens end now, its calendars stop syncing",
    description="When the account is an admin's, the body carries a current `code` from the "
    "acting admin's own authenticator app.",
    responses=errors(404, 409, 422, 429),
)
def disable(
    user_id: UserId,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    origin: OriginDep,
    body: FreshCodeRequest | None = None,
) -> Any:
    refused = _refused(request, session, admin, user_id, body, origin, disabling=True)
    if refused is not None:
        return refused
    return _user(staff.disable_user(session, user_id, actor=admin.id, origin=origin))


@router.post(
    "/users/{user_id}/enable",
    response_model=UserAnswer,
    summary="Enable a disabled account (its person signs in again)",
    description="When the account is an admin's, the body carries a current `code` from the "
    "acting admin's own authenticator app.",
    responses=errors(404, 422, 429),
)
def enable(
    user_id: UserId,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    origin: OriginDep,
    body: FreshCodeRequest | None = None,
) -> Any:
    refused = _refused(request, session, admin, user_id, body, origin)
    if refused is not None:
        return refused
    return _user(staff.enable_user(session, user_id, actor=admin.id, origin=origin))


@router.post(
    "/users/{user_id}/role",
    response_model=UserAnswer,
    summary="Change an account's role",
    description="Changing an admin's role, or making someone an admin, needs a current `code` "
    "from the acting admin's own authenticator app. A new role voids the account's unused "
    "password reset links.",
    responses=errors(404, 409, 422, 429),
)
def change_role(
    user_id: UserId,
    body: RoleIn,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    origin: OriginDep,
) -> Any:
    refused = _refused(request, session, admin, user_id, body, origin, new_role=body.role)
    if refused is not None:
        return refused
    return _user(staff.set_role(session, user_id, body.role, actor=admin.id, origin=origin))


@router.post(
    "/users/{user_id}/password-reset",
    response_model=ResetLinkAnswer,
    status_code=201,
    summary="Issue a one-time password reset link (valid 1 hour) to hand to its person",
    description="When the account is an admin's, the body carries a current `code` from the "
    "acting admin's own authenticator app.",
    responses=errors(404, 409, 422, 429),
)
def issue_reset(
    user_id: UserId,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    body: FreshCodeRequest | None = None,
) -> Any:
    refused = _refused(request, session, admin, user_id, body, origin)
    if refused is not None:
        return refused
    link = password_reset.issue_reset_link(
        session, user_id, base_url=settings.base_url, actor=admin.id, origin=origin
    )
    return {
        "ok": True,
        "password_reset": {
            "url": link.url,
            "expires_at": link.expires_at.isoformat(),
            "user_id": link.user_id,
        },
    }


@router.post(
    "/auth/logout-everywhere",
    response_model=SignedOutOut,
    summary="Sign out everywhere: end all of one's sessions and API tokens, this one included",
)
def logout_everywhere(user: CurrentUser, session: SessionDep, origin: OriginDep) -> JSONResponse:
    ended = staff.sign_out_everywhere(session, user, origin=origin)
    response = JSONResponse({"ok": True, "sessions_ended": ended})
    clear_session_cookies(response)
    return response


@router.post(
    "/auth/password-reset",
    response_model=Done,
    summary="Set a new password through a one-time reset link",
    responses=errors(404, 422),
)
def complete_reset(body: ResetIn, session: SessionDep, origin: OriginDep) -> JSONResponse:
    try:
        password_reset.complete_reset(session, body.token, body.password, origin=origin)
    except password_reset.ResetLinkRefused as refused:
        # Returned, not raised: the refusal's audit row commits with the request.
        return refusal(refused)
    return JSONResponse({"ok": True})
