"""Templates: the practice's message templates, each with its variables' PHI classes and a
preview rendered with sample values; admins and front desk create, edit and archive them."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from proirp.auth.models import Role, User
from proirp.comms.models import Template
from proirp.comms.templates import service
from proirp.comms.templates.rendering import KNOWN_VARIABLES, TemplateProblem, used_paths
from proirp.comms.templates.schemas import TemplateCreate, TemplateUpdate
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.pagination import MAX_LIMIT, page_params
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, SendingPage, field, page_router

router = page_router()
EDITORS = frozenset({Role.ADMIN, Role.STAFF})  # as the API: front desk and admins edit
BLANK_ROWS = 3
NOTICES = {
    "created": "The template was created.",
    "saved": "The template was saved.",
    "archived": "The template was archived. Messages already sent with it keep pointing at it.",
}
KNOWN = sorted(KNOWN_VARIABLES.items())


def _text(form: FormData, name: str) -> str | None:
    """A template's text as typed (the browser sends CRLF line breaks); None when blank."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.replace("\r\n", "\n")


def _variables(form: FormData, texts: list[str | None]) -> list[dict[str, Any]]:
    """The declared rows (blank names dropped), then each variable the product fills in that
    the text uses and no row declares, with the class the product gives it."""
    names = [str(n).strip() for n in form.getlist("var_name")]
    classes = [str(c) for c in form.getlist("var_phi")]
    declared = [
        {"name": name, "phi": phi == "phi"}
        for name, phi in zip(names, classes, strict=False)
        if name
    ]
    seen = {v["name"] for v in declared}
    used: set[str] = set()
    for source in texts:
        with suppress(TemplateProblem):  # not a valid template: saving it says why
            used |= used_paths(source) if source else set()
    for name in sorted(used - seen):
        if name in KNOWN_VARIABLES:
            declared.append({"name": name, "phi": KNOWN_VARIABLES[name]})
    return declared


def _fields(form: FormData) -> dict[str, Any]:
    texts = {part: _text(form, part) for part in ("subject", "body", "html")}
    return {
        "name": field(form, "name"),
        **texts,
        "sendgrid_template_id": field(form, "sendgrid_template_id"),
        "variables": _variables(form, list(texts.values())),
    }


def _rows(template: Template | None) -> list[dict[str, Any]]:
    declared = [dict(v) for v in (template.variables if template else None) or []]
    return declared + [{"name": "", "phi": True}] * BLANK_ROWS


@router.get("/templates")
def templates_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    page = page_params(limit=limit, cursor=cursor)
    templates, next_cursor = service.list_templates(session, channel=None, page=page)
    return render(
        request,
        "templates.html",
        user=user,
        templates=templates,
        next_cursor=next_cursor,
        can_edit=user.role in EDITORS,
        notice=NOTICES.get(done or ""),
    )


@router.get("/templates/new")
def new_template_page(request: Request, user: SendingPage) -> Response:
    return render(request, "template_new.html", user=user, rows=_rows(None), known=KNOWN)


@router.post("/templates")
def create_template(
    user: SendingPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    body = TemplateCreate.model_validate({**_fields(form), "type": field(form, "type")})
    template = service.create_template(session, body, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/templates/{template.id}?done=created", status_code=303)


@router.get("/templates/{template_id}")
def template_page(
    request: Request,
    template_id: str,
    user: PageUser,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    template = service.get_template(session, template_id)
    return _show(request, user, template, notice=NOTICES.get(done or ""))


def _show(request: Request, user: User, template: Template, **context: Any) -> Response:
    return render(
        request,
        "template.html",
        user=user,
        template=service.to_out(template),
        preview=service.preview_template(template),
        rows=_rows(template),
        known=KNOWN,
        can_edit=user.role in EDITORS,
        **context,
    )


@router.post("/templates/{template_id}")
def update_template(
    template_id: str, user: SendingPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    body = TemplateUpdate.model_validate(_fields(form))
    service.update_template(session, template_id, body, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/templates/{template_id}?done=saved", status_code=303)


@router.post("/templates/{template_id}/archive")
def archive_template(
    template_id: str, user: SendingPage, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    service.archive_template(session, template_id, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/templates?done=archived", status_code=303)
