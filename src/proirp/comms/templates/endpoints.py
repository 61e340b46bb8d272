"""/templates: message templates for SMS and email; everyone reads, admins and front desk edit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from proirp.auth.dependencies import AnyStaff, require_role
from proirp.auth.models import Role, User
from proirp.comms.models import Template
from proirp.comms.templates import service
from proirp.comms.templates.responses import TemplateAnswer, TemplateList
from proirp.comms.templates.schemas import TemplateCreate, TemplateType, TemplateUpdate
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.openapi import Done, errors
from proirp.kit.pagination import PageParams, page_params

router = APIRouter(prefix="/templates", tags=["templates"])
Page = Annotated[PageParams, Depends(page_params)]
# Templates are front-desk and admin work, as campaigns are; clinicians use them, not edit them.
TemplateEditor = Annotated[User, Depends(require_role(Role.ADMIN, Role.STAFF))]


def _view(template: Template) -> dict[str, Any]:
    return service.to_out(template).model_dump(mode="json")


@router.get("", response_model=TemplateList, summary="List templates")
def list_templates(
    session: SessionDep,
    _user: AnyStaff,
    page: Page,
    type_: Annotated[TemplateType | None, Query(alias="type")] = None,
) -> dict[str, Any]:
    templates, next_cursor = service.list_templates(session, channel=type_, page=page)
    return {"ok": True, "templates": [_view(t) for t in templates], "next_cursor": next_cursor}


@router.post(
    "",
    status_code=201,
    response_model=TemplateAnswer,
    summary="Create a template (admins and front desk)",
    responses=errors(409),
)
def create_template(
    body: TemplateCreate, session: SessionDep, user: TemplateEditor, origin: OriginDep
) -> JSONResponse:
    template = service.create_template(session, body, user_id=user.id, origin=origin)
    return JSONResponse({"ok": True, "template": _view(template)}, status_code=201)


@router.get(
    "/{template_id}",
    response_model=TemplateAnswer,
    summary="Read a template",
    responses=errors(404),
)
def get_template(template_id: str, session: SessionDep, _user: AnyStaff) -> dict[str, Any]:
    return {"ok": True, "template": _view(service.get_template(session, template_id))}


@router.patch(
    "/{template_id}",
    response_model=TemplateAnswer,
    summary="Change a template (admins and front desk)",
    responses=errors(404, 409),
)
def update_template(
    template_id: str,
    body: TemplateUpdate,
    session: SessionDep,
    user: TemplateEditor,
    origin: OriginDep,
) -> dict[str, Any]:
    template = service.update_template(session, template_id, body, user_id=user.id, origin=origin)
    return {"ok": True, "template": _view(template)}


@router.delete(
    "/{template_id}",
    response_model=Done,
    summary="Archive a template (admins and front desk)",
    responses=errors(404),
)
def archive_template(
    template_id: str, session: SessionDep, user: TemplateEditor, origin: OriginDep
) -> dict[str, Any]:
    service.archive_template(session, template_id, user_id=user.id, origin=origin)
    return {"ok": True}
