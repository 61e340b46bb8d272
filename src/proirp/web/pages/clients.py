"""Clients: the list and its search (an audited read, as GET /clients), a new client
(POST /clients' body and checks), and changing one (PATCH /clients/{id}'s)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.auth.models import User
from proirp.clients import service
from proirp.clients.schemas import ClientCreate, ClientUpdate
from proirp.clients.service import Actor
from proirp.comms.inbox.practice import inbox_practice
from proirp.comms.inbox.service import inbound_message
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.origin import RequestOrigin
from proirp.kit.pagination import Cursor, PageParams
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, field, page_router

router = page_router()
PAGE_SIZE = 25
SEARCH_MAX = 100  # as GET /clients' q
CURSOR_MAX = 200
TEXT_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth", "timezone")
CONSENTS = ("sms_consent", "email_consent", "reminders_opt_out")
MessageId = Annotated[str | None, Query(max_length=32)]


@router.get("/clients")
def clients(
    request: Request,
    user: PageUser,
    session: SessionDep,
    origin: OriginDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Every client, newest first, a page at a time."""
    return _listed(request, user, session, origin, None, cursor)


@router.post("/clients/search")
def search_clients(
    request: Request, user: PageUser, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    """The search: posted, so that what was typed (a name, a phone number) stays out of
    addresses, browser history and proxies' logs; its pages are posted too."""
    q = field(form, "q")
    if q is not None and len(q) > SEARCH_MAX:
        raise ValidationFailed("The search is too long.", fields={"q": f"at most {SEARCH_MAX}"})
    cursor = field(form, "cursor")
    if cursor is not None and len(cursor) > CURSOR_MAX:
        raise ValidationFailed("That page is not one this list gave.", fields={"cursor": "unknown"})
    return _listed(request, user, session, origin, q, cursor)


def _listed(
    request: Request,
    user: User,
    session: Session,
    origin: RequestOrigin,
    search: str | None,
    cursor: str | None,
) -> Response:
    page = PageParams(limit=PAGE_SIZE, cursor=Cursor.decode(cursor) if cursor else None)
    found, next_cursor = service.list_clients(
        session, q=search, page=page, actor=Actor(user.id, origin)
    )
    return render(
        request,
        "clients.html",
        user=user,
        q=search or "",
        clients=service.to_out(session, found),
        next_cursor=next_cursor,
        paged=cursor is not None,
    )


@router.get("/clients/new")
def new_client(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    from_message: MessageId = None,
) -> Response:
    """The form; from the inbox, with the number of a message no client matched filled in."""
    # The practice's own zone to start from (the inbox settings' zone, else the setting).
    values: dict[str, Any] = {"timezone": inbox_practice(session, settings).timezone}
    if from_message:
        message = inbound_message(session, from_message, user_id=user.id, origin=origin)
        values["phone"] = message.from_address or ""
        # The sender's number is shown: a read of that message, recorded as the unmatched
        # list's reads are (ids only).
        record_audit(
            session,
            actor=user.id,
            action=AuditAction.MESSAGE_VIEWED,
            client_id=message.client_id,
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"communication_id": message.id, "shown": "sender's number"},
        )
    return render(
        request, "client_new.html", user=user, values=values, from_message=from_message or ""
    )


def _client_fields(form: FormData, *, partial: bool) -> dict[str, Any]:
    """The form as the API's body: text fields (blank: not given when creating, cleared when
    changing), consent boxes as true or false, and the consent's source."""
    body: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if partial and name not in form:
            continue
        value = field(form, name)
        if value is not None or partial:
            body[name] = value
    for name in CONSENTS:
        if partial and f"{name}_shown" not in form:
            continue
        body[name] = form.get(name) == "yes"
    source = field(form, "consent_source")
    if source is not None:
        body["consent_source"] = source
    return body


@router.post("/clients")
def create_client(
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
) -> Response:
    body = ClientCreate.model_validate(_client_fields(form, partial=False))
    client = service.create_client(session, body, actor=Actor(user.id, origin), settings=settings)
    if field(form, "from_message"):
        # Back to the message no client matched: it can now be attached to this client.
        return RedirectResponse(f"{PREFIX}/inbox?done=client_created#unmatched", status_code=303)
    return RedirectResponse(f"{PREFIX}/clients/{client.id}?done=created", status_code=303)


@router.post("/clients/{client_id}")
def update_client(
    client_id: str,
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    origin: OriginDep,
    settings: SettingsDep,
) -> Response:
    body = ClientUpdate.model_validate(_client_fields(form, partial=True))
    service.update_client(session, client_id, body, actor=Actor(user.id, origin), settings=settings)
    return RedirectResponse(f"{PREFIX}/clients/{client_id}?done=updated", status_code=303)
