"""/clients/{id}/care-team (who may see a client) and /break-glass (emergency access)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from proirp.auth.dependencies import AdminUser, AnyStaff, require_role
from proirp.auth.models import Role, User
from proirp.clients import break_glass, care_team
from proirp.clients.access_schemas import (
    BreakGlassAnswer,
    BreakGlassList,
    BreakGlassOpen,
    CareTeamAnswer,
    CareTeamPut,
)
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.openapi import errors
from proirp.kit.pagination import PageParams, page_params

router = APIRouter(prefix="/clients", tags=["clients"])
break_glass_router = APIRouter(prefix="/break-glass", tags=["break-glass"])

Page = Annotated[PageParams, Depends(page_params)]
Assigner = Annotated[User, Depends(require_role(Role.ADMIN, Role.STAFF))]
Clinician = Annotated[User, Depends(require_role(Role.CLINICIAN))]
Reviewer = Annotated[User, Depends(require_role(Role.ADMIN, Role.CLINICIAN))]


def _team(client_id: str, team: list[Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "client_id": client_id,
        "care_team": [m.model_dump(mode="json") for m in team],
    }


@router.get(
    "/{client_id}/care-team",
    response_model=CareTeamAnswer,
    summary="The clinicians on a client's care team",
    description="Clinicians see and message only the clients whose care team they are on.",
    responses=errors(404),
)
def get_care_team(
    client_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    team = care_team.read_care_team(session, client_id, user_id=user.id, origin=origin)
    return _team(client_id, team)


@router.put(
    "/{client_id}/care-team",
    response_model=CareTeamAnswer,
    summary="Set a client's care team (admins and front desk)",
    description=(
        "`user_ids` is the whole team: active clinicians. Each clinician added or removed is "
        "audited (CARE_TEAM_MEMBER_ADDED, CARE_TEAM_MEMBER_REMOVED)."
    ),
    responses=errors(404),
)
def put_care_team(
    client_id: str, body: CareTeamPut, session: SessionDep, user: Assigner, origin: OriginDep
) -> dict[str, Any]:
    team = care_team.set_care_team(
        session, client_id, body.user_ids, user_id=user.id, origin=origin
    )
    return _team(client_id, team)


@break_glass_router.post(
    "",
    status_code=201,
    response_model=BreakGlassAnswer,
    summary="Open emergency access to a client outside your care team (clinicians)",
    description=(
        "For `minutes` (default 60, at most 240) the caller may open that client's record, "
        "thread, appointments and send to them, by the client's id (lists, searches and "
        "campaigns still show the care team only). The reason is kept encrypted for the "
        "admins who review grants and is never logged; opening is audited as "
        "BREAK_GLASS_OPENED and every access under the grant as BREAK_GLASS_USED with the "
        "grant's id."
    ),
    responses=errors(409),
)
def open_break_glass(
    body: BreakGlassOpen, session: SessionDep, user: Clinician, origin: OriginDep
) -> JSONResponse:
    grant = break_glass.open_break_glass(session, body, user_id=user.id, origin=origin)
    view = break_glass.view(grant, with_reason=False).model_dump(mode="json")
    return JSONResponse({"ok": True, "grant": view}, status_code=201)


@break_glass_router.get(
    "",
    response_model=BreakGlassList,
    summary="Break-glass grants, newest first: every one for admins (to review), your own",
    description="Admins see each grant's reason, to review it; a clinician sees their own.",
)
def list_break_glass(
    session: SessionDep, user: Reviewer, origin: OriginDep, page: Page
) -> dict[str, Any]:
    admin = user.role == Role.ADMIN
    grants, next_cursor = break_glass.list_grants(
        session, user_id=user.id, everyone=admin, page=page, origin=origin
    )
    return {
        "ok": True,
        "grants": [break_glass.view(g, with_reason=admin).model_dump(mode="json") for g in grants],
        "next_cursor": next_cursor,
    }


@break_glass_router.post(
    "/{grant_id}/review",
    response_model=BreakGlassAnswer,
    summary="Mark a break-glass grant reviewed (admins)",
    responses=errors(404, 409),
)
def review_break_glass(
    grant_id: str, session: SessionDep, user: AdminUser, origin: OriginDep
) -> dict[str, Any]:
    grant = break_glass.review(session, grant_id, user_id=user.id, origin=origin)
    return {"ok": True, "grant": break_glass.view(grant, with_reason=True).model_dump(mode="json")}
