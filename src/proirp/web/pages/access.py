"""Who may see a client: setting a client's care team (admins and front desk, from the client's
page, as PUT /clients/{id}/care-team), and break-glass: a clinician opens emergency access to a
client outside their care team (as POST /break-glass); admins review every grant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from proirp.auth.models import Role, User
from proirp.clients import break_glass, care_team
from proirp.clients.access_schemas import (
    BREAK_GLASS_DEFAULT_MINUTES,
    BREAK_GLASS_MAX_MINUTES,
    REASON_MAX_LENGTH,
    BreakGlassOpen,
)
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.pagination import Cursor, PageParams
from proirp.kit.time import utcnow
from proirp.web.reads import client_names
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import AdminPage, CheckedForm, SendingPage, field, page_role, page_router

router = page_router()
PAGE_SIZE = 50
ReviewPage = Annotated[User, Depends(page_role(Role.ADMIN, Role.CLINICIAN))]
ClinicianPage = Annotated[User, Depends(page_role(Role.CLINICIAN))]
NOTICES = {
    "opened": "Emergency access is open. Every access is recorded and reviewed.",
    "reviewed": "Marked reviewed.",
}


@router.post("/clients/{client_id}/care-team")
def set_care_team(
    client_id: str, user: SendingPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    """The clinicians ticked are the client's whole care team."""
    user_ids = [str(v) for v in form.getlist("user_ids") if v]
    care_team.set_care_team(session, client_id, user_ids, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/clients/{client_id}?done=care_team", status_code=303)


@router.get("/break-glass")
def break_glass_page(
    request: Request,
    user: ReviewPage,
    session: SessionDep,
    origin: OriginDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    client_id: Annotated[str | None, Query(max_length=32)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Admins: every grant, to review. A clinician: the form, and their own grants."""
    admin = user.role == Role.ADMIN
    page = PageParams(PAGE_SIZE, Cursor.decode(cursor) if cursor else None)
    grants, next_cursor = break_glass.list_grants(
        session, user_id=user.id, everyone=admin, page=page, origin=origin
    )
    views = [break_glass.view(g, with_reason=admin) for g in grants]
    # Admins see every client: their names (the read audited with the list); a clinician, ids.
    names = client_names(session, [g.client_id for g in views], viewer=user.id) if admin else {}
    people = [g.user_id for g in views] + [g.reviewed_by_user_id or "" for g in views]
    emails = {u.id: u.email for u in care_team.users(session, people)}
    return render(
        request,
        "break_glass.html",
        user=user,
        notice=NOTICES.get(done or ""),
        admin=admin,
        grants=views,
        names=names,
        emails=emails,
        next_cursor=next_cursor,
        client_id=client_id or "",
        default_minutes=BREAK_GLASS_DEFAULT_MINUTES,
        max_minutes=BREAK_GLASS_MAX_MINUTES,
        reason_max=REASON_MAX_LENGTH,
        now=utcnow(),
    )


@router.post("/break-glass")
def open_break_glass(
    user: ClinicianPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    minutes = field(form, "minutes")
    body = BreakGlassOpen.model_validate(
        {
            "client_id": field(form, "client_id") or "",
            "reason": field(form, "reason") or "",
            "minutes": int(minutes) if minutes and minutes.isdigit() else minutes,
        }
    )
    grant = break_glass.open_break_glass(session, body, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/clients/{grant.client_id}?done=break_glass", status_code=303)


@router.post("/break-glass/{grant_id}/review")
def review_grant(
    grant_id: str, user: AdminPage, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    break_glass.review(session, grant_id, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/break-glass?done=reviewed", status_code=303)
