"""Staff (admins): every account with its role and state; disable or enable one, change its
role, or issue a one-time password reset link to hand to its person; and, for everyone, sign out
everywhere. The same service as /users, so the same rules hold (the last active admin stays)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.auth import mfa_login, password_reset, second_factor, staff
from proirp.auth.cookies import clear_session_cookies
from proirp.auth.models import User
from proirp.comms.inbox.practice import inbox_practice
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import AppError
from proirp.kit.origin import RequestOrigin
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import AdminPage, CheckedForm, PageUser, field, page_router

router = page_router()
STAFF = f"{PREFIX}/staff"
UserId = Annotated[str, Path(max_length=32)]
# Fixed words for each outcome: the address carries a code, never anything typed.
DONE = {
    "disabled": "The account is disabled: its sessions have ended and its calendars are no "
    "longer synced. Its history stays.",
    "enabled": "The account is enabled again. Its person signs in as before.",
    "role": "The role is changed; it applies from the person's next request.",
    "mfa-reset": "Their two-step sign-in is reset and their sessions have ended: they set it up "
    "again at their next sign-in.",
}
WRONG_CODE = (
    "That code is not right, or was already used. Type the code your own app shows now "
    "(a new one comes every 30 seconds)."
)
ROLE_NAMES = {"admin": "Admin", "clinician": "Clinician", "staff": "Front desk (staff)"}


@router.get("/staff")
def staff_page(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _page(request, admin, session, settings, notice=DONE.get(done or ""))


def _page(
    request: Request,
    admin: User,
    session: Session,
    settings: Settings,
    *,
    notice: str | None = None,
    refused: AppError | None = None,
    person_id: str | None = None,
) -> Response:
    """The staff page; with `refused`, the refusal of a change to `person_id`'s account, shown
    beside it (the fresh code an admin's account asks for)."""
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    error = None
    if refused is not None:
        error = WRONG_CODE if refused.code == "invalid_code" else refused.message
    response = render(
        request,
        "staff.html",
        user=admin,
        people=staff.list_staff(session),
        with_second_factor=second_factor.users_enrolled(session),
        roles=ROLE_NAMES,
        zone=zone,
        notice=notice,
        error=error,
        error_for=person_id,
    )
    if refused is not None:
        response.status_code = refused.status_code
        response.headers.update(refused.headers or {})
    return response


def _refusal(
    request: Request,
    admin: User,
    user_id: str,
    form: FormData,
    session: Session,
    settings: Settings,
    origin: RequestOrigin,
    *,
    disabling: bool = False,
    new_role: str | None = None,
) -> tuple[User, Response | None]:
    """The account to change, and the page refusing the change before it is made, as the
    /users routes refuse it (the last active admin's, told first; an admin's, or making one,
    without the acting admin's current code), or None."""
    person = staff.staff_member(session, user_id)
    staff.refuse_what_keeps_no_admin(session, person, disabling=disabling, new_role=new_role)
    try:
        mfa_login.confirm_fresh_code(
            session,
            admin,
            person,
            field(form, "code"),
            origin=origin,
            throttle=request.app.state.login_throttle,
            new_role=new_role,
        )
    except AppError as refused:
        # Shown, not raised: the wrong code's audit row and login count commit.
        page = _page(request, admin, session, settings, refused=refused, person_id=user_id)
        return person, page
    return person, None


def _back(done: str, user_id: str) -> RedirectResponse:
    return RedirectResponse(f"{STAFF}?done={done}#user-{user_id}", status_code=303)


@router.post("/staff/{user_id}/disable")
def disable(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    _person, refused = _refusal(
        request, admin, user_id, form, session, settings, origin, disabling=True
    )
    if refused is not None:
        return refused
    staff.disable_user(session, user_id, actor=admin.id, origin=origin)
    return _back("disabled", user_id)


@router.post("/staff/{user_id}/enable")
def enable(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    _person, refused = _refusal(request, admin, user_id, form, session, settings, origin)
    if refused is not None:
        return refused
    staff.enable_user(session, user_id, actor=admin.id, origin=origin)
    return _back("enabled", user_id)


@router.post("/staff/{user_id}/role")
def change_role(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    role = field(form, "role") or ""
    _person, refused = _refusal(
        request, admin, user_id, form, session, settings, origin, new_role=role
    )
    if refused is not None:
        return refused
    staff.set_role(session, user_id, role, actor=admin.id, origin=origin)
    return _back("role", user_id)


@router.post("/staff/{user_id}/mfa-reset")
def reset_second_factor(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """A lost phone: as POST /users/{user_id}/mfa/reset."""
    person, refused = _refusal(request, admin, user_id, form, session, settings, origin)
    if refused is not None:
        return refused
    second_factor.reset(session, person, actor=admin.id, origin=origin)
    return _back("mfa-reset", user_id)


@router.post("/staff/{user_id}/password-reset")
def issue_reset(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """The link is shown on this answer only (never in an address, never stored)."""
    person, refused = _refusal(request, admin, user_id, form, session, settings, origin)
    if refused is not None:
        return refused
    link = password_reset.issue_reset_link(
        session, user_id, base_url=settings.base_url, actor=admin.id, origin=origin
    )
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    response = render(
        request, "staff_reset_link.html", user=admin, link=link, person=person, zone=zone
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/signout-everywhere")
def signout_everywhere(
    user: PageUser, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    staff.sign_out_everywhere(session, user, origin=origin)
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    clear_session_cookies(response)
    return response
