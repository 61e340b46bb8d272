"""Staff (admins): every account with its role and state; disable or enable one, change its
role, or issue a one-time password reset link to hand to its person; and, for everyone, sign out
everywhere. The same service as /users, so the same rules hold (the last active admin stays)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from proirp.auth import password_reset, second_factor, staff
from proirp.auth.cookies import clear_session_cookies
from proirp.comms.inbox.practice import inbox_practice
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
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
ROLE_NAMES = {"admin": "Admin", "clinician": "Clinician", "staff": "Front desk (staff)"}


@router.get("/staff")
def staff_page(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    return render(
        request,
        "staff.html",
        user=admin,
        people=staff.list_staff(session),
        with_second_factor=second_factor.users_enrolled(session),
        roles=ROLE_NAMES,
        zone=zone,
        notice=DONE.get(done or ""),
    )


def _back(done: str, user_id: str) -> RedirectResponse:
    return RedirectResponse(f"{STAFF}?done={done}#user-{user_id}", status_code=303)


@router.post("/staff/{user_id}/disable")
def disable(
    user_id: UserId, admin: AdminPage, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    staff.disable_user(session, user_id, actor=admin.id, origin=origin)
    return _back("disabled", user_id)


@router.post("/staff/{user_id}/enable")
def enable(
    user_id: UserId, admin: AdminPage, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    staff.enable_user(session, user_id, actor=admin.id, origin=origin)
    return _back("enabled", user_id)


@router.post("/staff/{user_id}/role")
def change_role(
    user_id: UserId, admin: AdminPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    staff.set_role(session, user_id, field(form, "role") or "", actor=admin.id, origin=origin)
    return _back("role", user_id)


@router.post("/staff/{user_id}/mfa-reset")
def reset_second_factor(
    user_id: UserId, admin: AdminPage, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    """A lost phone: as POST /users/{user_id}/mfa/reset."""
    person = staff.staff_member(session, user_id)
    second_factor.reset(session, person, actor=admin.id, origin=origin)
    return _back("mfa-reset", user_id)


@router.post("/staff/{user_id}/password-reset")
def issue_reset(
    request: Request,
    user_id: UserId,
    admin: AdminPage,
    _form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """The link is shown on this answer only (never in an address, never stored)."""
    link = password_reset.issue_reset_link(
        session, user_id, base_url=settings.base_url, actor=admin.id, origin=origin
    )
    person = staff.staff_member(session, user_id)
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
