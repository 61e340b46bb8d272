"""The inbox: conversations with client messages (urgent first, then unread for this user, then
recent; an audited read, as GET /inbox), and the messages from numbers that match no single
client, which staff attach to a client (POST /inbox/{id}/attach's path) or create a client for.
The page refreshes itself when a client's message arrives."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.clients import service as clients
from proirp.clients.access import visible_to
from proirp.clients.service import Actor
from proirp.comms.core.repository import newest_inbound_id
from proirp.comms.inbox import conversations
from proirp.comms.inbox import service as inbox
from proirp.comms.inbox.endpoints import INLINE_TYPES
from proirp.comms.inbox.schemas import AttachIn
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.pagination import Cursor, PageParams
from proirp.web.pages.client_page import practice_zone, when_in
from proirp.web.pages.composer import CHANNELS
from proirp.web.reads import client_names
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, field, page_router

router = page_router()
CONVERSATIONS_SHOWN = 50
UNMATCHED_SHOWN = 20
FOUND_SHOWN = 10
SEARCH_MAX = 100  # as GET /clients' q
ID_MAX = 32
NOTICES = {
    "client_created": "Client created. Attach the message to them below.",
}


def _shown_candidates(
    session: Session, user_id: str, origin: RequestOrigin, client_ids: list[str]
) -> dict[str, str]:
    """The names of the clients offered for attaching: a read of those clients, audited as
    listing them is (GET /inbox/unmatched gives only their ids)."""
    names = client_names(session, client_ids, viewer=user_id)
    if names:
        record_audit(
            session,
            actor=user_id,
            action=AuditAction.CLIENTS_LISTED,
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"client_ids": sorted(names), "searched": False},
        )
    return names


@router.get("/inbox")
def inbox_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _inbox(request, user, session, settings, origin, offset, cursor, None, None, done)


@router.post("/inbox/find")
def find_client_for(
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """A search for the client one message is from: posted, so that what was typed (a name, a
    number) stays out of addresses, browser history and proxies' logs."""
    find_for, q = field(form, "for"), field(form, "q")
    if find_for is not None and len(find_for) > ID_MAX:
        raise ValidationFailed(
            "That message is not one this page showed.", fields={"for": "unknown"}
        )
    if q is not None and len(q) > SEARCH_MAX:
        raise ValidationFailed("The search is too long.", fields={"q": f"at most {SEARCH_MAX}"})
    return _inbox(request, user, session, settings, origin, 0, None, find_for, q, None)


@router.get("/inbox/find")
def after_find(_user: PageUser) -> RedirectResponse:
    """The search's page fetched again (a reload, the live region): the inbox itself."""
    return RedirectResponse(f"{PREFIX}/inbox", status_code=303)


def _inbox(
    request: Request,
    user: User,
    session: Session,
    settings: Settings,
    origin: RequestOrigin,
    offset: int,
    cursor: str | None,
    find_for: str | None,
    q: str | None,
    done: str | None,
) -> Response:
    visible = visible_to(session, user.id, Communication.client_id)
    newest = (
        newest_inbound_id(session, visible=visible) or ""
    )  # first: what arrives after it refreshes the page
    conversations, next_offset = inbox.list_inbox(
        session, user_id=user.id, origin=origin, limit=CONVERSATIONS_SHOWN, offset=offset
    )
    unmatched, next_cursor = inbox.list_unmatched(
        session,
        user_id=user.id,
        origin=origin,
        limit=UNMATCHED_SHOWN,
        cursor=Cursor.decode(cursor) if cursor else None,
    )
    # Staff looking for a client to attach one message to (a search, as GET /clients?q= is).
    search = (q or "").strip()
    found: list[str] = []
    if find_for and search:
        matches, _ = clients.list_clients(
            session,
            q=search,
            page=PageParams(limit=FOUND_SHOWN, cursor=None),
            actor=Actor(user.id, origin),
        )
        found = [client.id for client in matches]
    candidates = [client_id for m in unmatched for client_id in m["candidates"]]
    names = client_names(session, [c["client_id"] for c in conversations], viewer=user.id)
    names.update(_shown_candidates(session, user.id, origin, candidates))
    names.update(client_names(session, found, viewer=user.id))  # audited by the search itself
    return render(
        request,
        "inbox.html",
        user=user,
        notice=NOTICES.get(done or ""),
        conversations=conversations,
        next_offset=next_offset,
        offset=offset,
        unmatched=unmatched,
        next_cursor=next_cursor,
        paged=cursor is not None,
        names=names,
        find_for=find_for,
        q=search,
        found=found,
        live=f"{PREFIX}/live/inbox?newest={newest}",
        zone=practice_zone(session, settings),
    )


@router.get("/inbox/messages/{message_id}")
def message_page(
    message_id: str,
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """One message from a number no single client matched: its text (an audited read that
    opens it, as GET /comms/{id} is: an urgent one is acknowledged), and attaching it."""
    message = inbox.inbound_message(session, message_id, user_id=user.id, origin=origin)
    if message.client_id is not None:  # attached since: it is in the client's thread
        return RedirectResponse(
            f"{PREFIX}/clients/{message.client_id}#message-{message.id}", status_code=303
        )
    view = inbox.read_message(session, message_id, user_id=user.id, origin=origin)
    number = view["from"] or ""
    view["candidates"] = conversations.candidates(session, [number]).get(number, [])
    zone = practice_zone(session, settings)
    return render(
        request,
        "message.html",
        user=user,
        m=view,
        names=_shown_candidates(session, user.id, origin, view["candidates"]),
        find_for=None,
        q="",
        found=[],
        channels=CHANNELS,
        inline_types=INLINE_TYPES,
        when=when_in(zone),
    )


@router.get("/live/inbox")
def live_inbox(
    user: PageUser,
    session: SessionDep,
    newest: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """`refresh` once a client's message newer than the page's newest has arrived."""
    visible = visible_to(session, user.id, Communication.client_id)
    latest = newest_inbound_id(session, visible=visible) or ""
    return JSONResponse({"items": {}, "refresh": newest is not None and latest != newest})


@router.post("/inbox/{message_id}/attach")
def attach(
    message_id: str,
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    origin: OriginDep,
) -> Response:
    body = AttachIn.model_validate(
        {"client_id": field(form, "client_id"), "all_from_number": form.get("all") == "yes"}
    )
    inbox.attach(
        session,
        message_id,
        body.client_id,
        all_from_number=body.all_from_number,
        user_id=user.id,
        origin=origin,
    )
    return RedirectResponse(
        f"{PREFIX}/clients/{body.client_id}?done=attached#thread", status_code=303
    )
