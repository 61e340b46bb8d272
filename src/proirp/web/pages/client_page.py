"""A client's page: contact details (an audited read, as GET /clients/{id}), consent and opt-outs
per channel, appointments, the message thread both ways (an audited read that opens the
conversation and marks it read, as the API's thread and POST /inbox/{id}/read do), each
message's status kept current, and the composer (POST /comms' path)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pydantic
from fastapi import Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from proirp.appointments.service import client_appointments
from proirp.auth.models import Role, User
from proirp.clients import care_team
from proirp.clients import service as clients
from proirp.clients.access import can_reach
from proirp.clients.repository import get_client
from proirp.clients.service import Actor
from proirp.comms.core.sending import MessageBlocked
from proirp.comms.inbox import conversations
from proirp.comms.inbox import service as inbox
from proirp.comms.inbox.endpoints import INLINE_TYPES
from proirp.comms.inbox.practice import inbox_practice
from proirp.comms.models import Communication, CommunicationStatus, Direction
from proirp.comms.request_keys import Answer, keep
from proirp.comms.templates import service as templates
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import AppError, NotFound
from proirp.kit.origin import RequestOrigin
from proirp.kit.pagination import Cursor
from proirp.kit.time import utcnow
from proirp.web.pages import composer
from proirp.web.pages.composer import Draft, Verdict
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, field, page_router
from proirp.web.send_once import SEND_KEY, hold_form_key, new_send_key

router = page_router()
THREAD_SIZE = 20
PageCursor = Annotated[str | None, Query(max_length=200)]
NOTICES = {
    "created": "Client created.",
    "updated": "Client details saved.",
    "sent": "Message queued. Its status below changes as it goes.",
    "scheduled": "Message scheduled. It is checked again when it is due to go.",
    "attached": "Attached: the message is in the client's thread now.",
    "care_team": "Care team saved.",
    "break_glass": "Emergency access is open. Every access is recorded and reviewed.",
}
AUTOMATIC = {
    "safety_reply": "Automatic safety reply",
    "after_hours_reply": "Automatic after-hours reply",
}


def practice_zone(session: Session, settings: Settings) -> ZoneInfo:
    return ZoneInfo(inbox_practice(session, settings).timezone)


def when_in(zone: ZoneInfo) -> Callable[[datetime | str | None], str]:
    """A time as the page shows it, in the practice's zone (views give ISO 8601 text)."""

    def when(moment: datetime | str | None) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return moment.astimezone(zone).strftime("%-d %b %Y %H:%M") if moment else ""

    return when


def status_item(message: dict[str, Any] | Communication) -> dict[str, str]:
    """How a message's status shows: its text and its state (a scheduled one says so)."""
    if isinstance(message, Communication):
        status, send_at = message.status, message.send_at
    else:
        status = message["status"]
        send_at = datetime.fromisoformat(message["send_at"]) if message["send_at"] else None
    if status == CommunicationStatus.QUEUED and send_at is not None and send_at > utcnow():
        return {"text": "scheduled", "state": "scheduled"}
    return {"text": status, "state": status}


def _thread(
    session: Session,
    client_id: str,
    user: User,
    origin: RequestOrigin,
    cursor: Cursor | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the thread (an audited read, opening the conversation), then marked read as
    POST /inbox/{id}/read marks it: up to the newest message from the client shown."""
    messages, next_cursor = inbox.read_thread(
        session, client_id, user_id=user.id, origin=origin, limit=THREAD_SIZE, cursor=cursor
    )
    unread = [m for m in messages if m["direction"] == Direction.INBOUND and m["read"] is False]
    if unread:
        inbox.mark_read(session, unread[-1]["id"], user_id=user.id, origin=origin)
    return messages, next_cursor


def page(
    request: Request,
    session: Session,
    settings: Settings,
    origin: RequestOrigin,
    user: User,
    client_id: str,
    *,
    cursor: str | None = None,
    template_id: str | None = None,
    draft: Draft | None = None,
    verdict: Verdict | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    actor = Actor(user.id, origin)
    client = clients.get_client(session, client_id, actor=actor)
    view = clients.to_out(session, [client])[0]
    opt_outs = clients.opt_outs_of(session, client)
    appointments = client_appointments(session, client.id, user_id=user.id, origin=origin)
    earlier = Cursor.decode(cursor) if cursor else None
    messages, next_cursor = _thread(session, client.id, user, origin, earlier)
    zone = practice_zone(session, settings)
    live = f"{PREFIX}/live/clients/{client.id}/thread"
    if earlier is not None:
        live += f"?cursor={quote(cursor or '')}"
    else:
        live += f"?newest={messages[-1]['id'] if messages else ''}"
    # A new message goes by SMS unless the client can only be reached by email.
    draft = draft or Draft(channel="email" if client.email and not client.phone else "sms")
    writing = composer.context(session, settings, client, draft, template_id)
    writing[SEND_KEY] = new_send_key()
    assigns = user.role in (Role.ADMIN, Role.STAFF)  # as PUT /clients/{id}/care-team
    return render(
        request,
        "client.html",
        user=user,
        status_code=status_code,
        notice=notice,
        client=view,
        opt_outs={channel.value: rows for channel, rows in opt_outs.items()},
        appointments=appointments,
        messages=messages,
        next_cursor=next_cursor,
        earlier=earlier is not None,
        live=live,
        status_item=status_item,
        automatic=AUTOMATIC,
        inline_types=INLINE_TYPES,
        verdict=verdict,
        zone=zone,
        when=when_in(zone),
        care_team=care_team.members(session, client.id),
        clinicians=care_team.clinicians(session) if assigns else None,
        **writing,
    )


@router.get("/clients/{client_id}")
def client_page(
    client_id: str,
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    cursor: PageCursor = None,
    template: Annotated[str | None, Query(max_length=40)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return page(
        request,
        session,
        settings,
        origin,
        user,
        client_id,
        cursor=cursor,
        template_id=template or None,
        notice=NOTICES.get(done or ""),
    )


@router.get("/live/clients/{client_id}/thread")
def live_thread(
    client_id: str,
    user: PageUser,
    session: SessionDep,
    newest: Annotated[str | None, Query(max_length=32)] = None,
    cursor: PageCursor = None,
) -> Response:
    """The statuses of the messages the page shows (ids and statuses only), and `refresh` when
    the newest page has a message newer than the one the page shows last."""
    if get_client(session, client_id) is None or not can_reach(session, user.id, client_id):
        raise NotFound("There is no client with that id.", code="not_found")
    earlier = Cursor.decode(cursor) if cursor else None
    shown, _ = conversations.thread(session, client_id, limit=THREAD_SIZE, cursor=earlier)
    items: dict[str, dict[str, str]] = {}
    for message in shown:
        if message.direction == Direction.OUTBOUND:
            items[f"status-{message.id}"] = status_item(message)
            items[f"reason-{message.id}"] = {"text": message.status_reason or ""}
    latest = shown[-1].id if shown else ""
    refresh = earlier is None and newest is not None and latest != newest
    return JSONResponse({"items": items, "refresh": refresh, "done": False})


@router.get("/clients/{client_id}/messages")
def back_to_client(client_id: str, user: PageUser) -> Response:
    """A refused send is answered at this address: loading it again (or the thread's live
    refresh) opens the client's page."""
    return RedirectResponse(f"{PREFIX}/clients/{client_id}#thread", status_code=303)


@router.post("/clients/{client_id}/messages")
def send_message(
    client_id: str,
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """Check the message (nothing written) or send it as POST /comms does. A refusal shows the
    client's page again with the composer as it was and the reason."""
    template_id = field(form, "template_id")
    template = templates.get_template(session, template_id) if template_id else None
    draft = composer.read_draft(form, template)
    zone = practice_zone(session, settings)

    def again(verdict: Verdict, status_code: int) -> Response:
        return page(
            request,
            session,
            settings,
            origin,
            user,
            client_id,
            draft=draft,
            verdict=verdict,
            status_code=status_code,
        )

    try:
        body = composer.request_of(draft, client_id, zone)
    except (pydantic.ValidationError, AppError) as invalid:
        return again(composer.refusal_of(invalid), 422)
    if form.get("action") == "check":
        verdict = composer.check(session, body, settings, user_id=user.id)
        return again(verdict, 200)
    key, earlier = hold_form_key(session, user.id, form, "message", body)
    if earlier is not None:
        return _answered(earlier, client_id, again)  # this very message, sent already
    try:
        comm = composer.send(session, body, user=user, origin=origin, settings=settings)
    except MessageBlocked as blocked:
        # Recorded as blocked, with its audit row: kept (the page is answered, not raised).
        reason = blocked.reason
        if key:
            keep(
                session,
                user.id,
                key,
                Answer(422, {"field": reason.field, "message": reason.message}),
            )
        verdict = Verdict(False, reason.message, {reason.field: reason.message}, blocked=True)
        return again(verdict, 422)
    except AppError as refused:
        session.rollback()  # nothing of a refused request is kept (its key is free again)
        return again(composer.refusal_of(refused), refused.status_code)
    done = "scheduled" if comm.send_at is not None else "sent"
    if key:
        keep(session, user.id, key, Answer(303, {"done": done}))
    return RedirectResponse(f"{PREFIX}/clients/{client_id}?done={done}#thread", status_code=303)


def _answered(
    earlier: Answer, client_id: str, again: Callable[[Verdict, int], Response]
) -> Response:
    """The page the first of two sends of one message was answered with."""
    if earlier.status_code == 422:
        message, at = str(earlier.body["message"]), str(earlier.body["field"])
        return again(Verdict(False, message, {at: message}, blocked=True), 422)
    done = str(earlier.body["done"])
    return RedirectResponse(f"{PREFIX}/clients/{client_id}?done={done}#thread", status_code=303)
