"""What the inbox's routes do: read a thread or a message (an audited read of its text, which
also counts as opening the conversation), list the inbox, mark read, attach, and the settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.access import (
    can_reach,
    require_reachable,
    sees_every_client,
    visible_to,
)
from proirp.clients.models import Client
from proirp.clients.repository import get_client
from proirp.comms.core import repository
from proirp.comms.email.service import email_address
from proirp.comms.inbox import conversations as talk
from proirp.comms.inbox.incidents import acknowledge, conversation_of, has_open_incident
from proirp.comms.inbox.models import InboxConversation, InboxSettings, MessageMedia
from proirp.comms.inbox.practice import FIELDS, inbox_practice
from proirp.comms.inbox.schemas import InboxSettingsIn, MediaOut, MessageOut
from proirp.comms.models import Communication, Direction
from proirp.comms.views import communication_view
from proirp.config import Settings
from proirp.kit.db import lock_shared_writes
from proirp.kit.errors import Conflict, NotFound, ValidationFailed
from proirp.kit.pagination import Cursor


def _audit(
    session: Session,
    user_id: str,
    origin: RequestOrigin,
    action: AuditAction,
    client_id: str | None,
    **details: Any,
) -> None:
    record_audit(
        session,
        actor=user_id,
        action=action,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
    )


def message_views(
    session: Session, comms: Sequence[Communication], user_id: str
) -> list[dict[str, Any]]:
    ids = [comm.id for comm in comms]
    media = talk.media_of(session, ids)
    read = talk.read_by(session, user_id, [c.id for c in comms if c.direction == Direction.INBOUND])
    return [
        MessageOut(
            **communication_view(comm),
            subject=comm.subject,
            body=comm.body,
            media=[_media_view(m) for m in media.get(comm.id, [])],
            read=(comm.id in read) if comm.direction == Direction.INBOUND else None,
        ).model_dump(mode="json", by_alias=True)
        for comm in comms
    ]


def _media_view(media: MessageMedia) -> MediaOut:
    state = "fetched" if media.fetched_at else "failed" if media.failed_reason else "pending"
    return MediaOut(
        id=media.id,
        content_type=media.content_type,
        size=media.size,
        state=state,
        failed_reason=media.failed_reason,
    )


def read_thread(
    session: Session,
    client_id: str,
    *,
    user_id: str,
    origin: RequestOrigin,
    limit: int,
    cursor: Cursor | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the client's thread; reading it opens the conversation (its urgent alerts
    stop) and is audited as a read of each message shown."""
    conversation = f"client:{client_id}"
    urgent = has_open_incident(session, conversation=conversation, client_id=client_id)
    if urgent:
        # First, so no message arrives between what is shown and what is marked as seen. A
        # thread with nothing alerting takes no lock: reading it changes nothing but the audit.
        lock_shared_writes(session)
    # A deleted client's thread stays readable: their messages outlive the record.
    if session.get(Client, client_id) is None or not can_reach(
        session, user_id, client_id, origin=origin
    ):
        raise NotFound("no client with that id", code="client_not_found")
    comms, next_cursor = talk.thread(session, client_id, limit=limit, cursor=cursor)
    ids = [comm.id for comm in comms]
    _audit(session, user_id, origin, AuditAction.MESSAGE_VIEWED, client_id, communication_ids=ids)
    if comms and urgent:
        acknowledge(
            session,
            conversation=conversation,
            client_id=client_id,
            up_to=max(comm.created_at for comm in comms),
            user_id=user_id,
            origin=origin,
        )
    return message_views(session, comms, user_id), next_cursor


def read_message(
    session: Session, comm_id: str, *, user_id: str, origin: RequestOrigin
) -> dict[str, Any]:
    """One message with its text and status history (an audited read)."""
    comm = repository.get(session, comm_id)
    if comm is None or not can_reach(session, user_id, comm.client_id, origin=origin):
        raise NotFound("no communication with that id", code="communication_not_found")
    urgent = comm.direction == Direction.INBOUND and has_open_incident(
        session, conversation=conversation_of(comm), client_id=comm.client_id
    )
    _audit(
        session,
        user_id,
        origin,
        AuditAction.MESSAGE_VIEWED,
        comm.client_id,
        communication_id=comm.id,
    )
    if urgent:
        _opened(session, comm, user_id, origin)
    view = message_views(session, [comm], user_id)[0]
    view["events"] = [
        {
            "status": event.status,
            "source": event.source,
            "error_code": event.error_code,
            "reason": event.reason,
            "occurred_at": event.occurred_at.isoformat(),
        }
        for event in repository.events(session, comm.id)
    ]
    return view


def inbound_message(
    session: Session, message_id: str, *, user_id: str, origin: RequestOrigin | None = None
) -> Communication:
    """A client's message that `user_id` may see (clients.access: one from an unmatched number
    is for admins and front desk)."""
    comm = repository.get(session, message_id)
    if (
        comm is None
        or comm.direction != Direction.INBOUND
        or not can_reach(session, user_id, comm.client_id, origin=origin)
    ):
        raise NotFound("no inbound message with that id", code="message_not_found")
    return comm


def mark_read(session: Session, message_id: str, *, user_id: str, origin: RequestOrigin) -> int:
    lock_shared_writes(session)  # before the rows: the order every writer of both keeps
    comm = inbound_message(session, message_id, user_id=user_id, origin=origin)
    count = talk.mark_read(session, user_id, comm)
    _audit(
        session,
        user_id,
        origin,
        AuditAction.MESSAGES_READ,
        comm.client_id,
        communication_id=comm.id,
        marked=count,
    )
    _opened(session, comm, user_id, origin)
    return count


def _opened(session: Session, comm: Communication, user_id: str, origin: RequestOrigin) -> None:
    """Staff saw `comm` and what came before it in its conversation."""
    acknowledge(
        session,
        conversation=conversation_of(comm),
        client_id=comm.client_id,
        up_to=comm.created_at,
        user_id=user_id,
        origin=origin,
    )


def list_inbox(
    session: Session, *, user_id: str, origin: RequestOrigin, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int | None]:
    # A clinician: their care team's conversations (clients.access).
    visible = visible_to(session, user_id, InboxConversation.client_id)
    page, more = talk.conversations(
        session,
        user_id,
        visible=visible,
        every_client=sees_every_client(session, user_id),
        limit=limit,
        offset=offset,
    )
    numbers = [c.number for c in page if c.number]
    candidates = talk.candidates(session, numbers)
    _audit(
        session,
        user_id,
        origin,
        AuditAction.INBOX_VIEWED,
        None,
        client_ids=[c.client_id for c in page if c.client_id],
        unmatched=len(numbers),
    )
    views = [
        {
            "client_id": c.client_id,
            "number": c.number,
            "candidates": candidates.get(c.number, []) if c.number else [],
            "urgent": c.urgent,
            "unread": c.unread,
            "last_inbound_at": c.last_inbound_at,
        }
        for c in page
    ]
    return views, offset + limit if more else None


def list_unmatched(
    session: Session, *, user_id: str, origin: RequestOrigin, limit: int, cursor: Cursor | None
) -> tuple[list[dict[str, Any]], str | None]:
    comms: list[Communication] = []
    next_cursor = None
    # The unmatched queue is for admins and front desk: no care team holds a number that
    # matches no client (clients.access).
    if sees_every_client(session, user_id):
        comms, next_cursor = talk.unmatched(session, limit=limit, cursor=cursor)
    candidates = talk.candidates(session, [c.from_address or "" for c in comms])
    media = talk.media_of(session, [c.id for c in comms])
    _audit(
        session,
        user_id,
        origin,
        AuditAction.INBOX_VIEWED,
        None,
        unmatched_communication_ids=[c.id for c in comms],
    )
    views = [
        {
            "id": c.id,
            "number": c.from_address or "",
            "to": c.to_address,
            "created_at": c.created_at,
            "candidates": candidates.get(c.from_address or "", []),
            "media": len(media.get(c.id, [])),
        }
        for c in comms
    ]
    return views, next_cursor


def attach(
    session: Session,
    message_id: str,
    client_id: str,
    *,
    all_from_number: bool,
    user_id: str,
    origin: RequestOrigin,
) -> list[str]:
    lock_shared_writes(session)  # before the rows: the order every writer of both keeps
    comm = inbound_message(session, message_id, user_id=user_id, origin=origin)
    if comm.client_id is not None:
        raise Conflict("the message is already attached to a client", code="already_attached")
    if get_client(session, client_id) is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    require_reachable(session, user_id, client_id, origin=origin)
    ids = talk.attach(session, comm, client_id, all_from_number=all_from_number)
    _audit(session, user_id, origin, AuditAction.INBOUND_ATTACHED, client_id, communication_ids=ids)
    return ids


def media_file(
    session: Session, comm_id: str, media_id: str, *, user_id: str, origin: RequestOrigin
) -> MessageMedia:
    media = session.get(MessageMedia, media_id)
    comm = repository.get(session, comm_id)
    if (
        media is None
        or comm is None
        or media.communication_id != comm.id
        or not can_reach(session, user_id, comm.client_id, origin=origin)
    ):
        raise NotFound("no media with that id", code="media_not_found")
    if media.fetched_at is None:
        why = media.failed_reason or "it is still being fetched from Twilio"
        raise Conflict(f"the media is not available: {why}", code="media_not_ready")
    _audit(
        session,
        user_id,
        origin,
        AuditAction.MESSAGE_VIEWED,
        comm.client_id,
        communication_id=comm.id,
        media_id=media.id,
    )
    return media


def settings_view(session: Session, settings: Settings) -> dict[str, Any]:
    practice = inbox_practice(session, settings)
    return {name: getattr(practice, name) for name in FIELDS}


def save_settings(
    session: Session,
    body: InboxSettingsIn,
    *,
    settings: Settings,
    user_id: str,
    origin: RequestOrigin,
) -> dict[str, Any]:
    lock_shared_writes(session)  # first: two admins saving at once take turns
    changes = body.model_dump(exclude_unset=True)
    if changes.get("office_hours") is not None:
        changes["office_hours"] = {
            day: hours for day, hours in changes["office_hours"].items() if hours is not None
        }
    # Null keeps a value as leaving it out does; only the on-call address can be cleared.
    changes = {
        name: value
        for name, value in changes.items()
        if value is not None or name == "on_call_email"
    }
    if changes.get("on_call_email") == "":
        changes["on_call_email"] = None  # cleared, as null clears it
    if changes.get("on_call_email"):
        changes["on_call_email"] = email_address(changes["on_call_email"], "on_call_email")
    current = settings_view(session, settings)
    row = session.get(InboxSettings, "practice")
    if row is None:
        row = InboxSettings(id="practice", **current)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    _audit(
        session,
        user_id,
        origin,
        AuditAction.INBOX_SETTINGS_CHANGED,
        None,
        changed=sorted(changes),
    )
    return settings_view(session, settings)
