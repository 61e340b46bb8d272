"""Conversations: a client's thread, both directions; the inbox, per member of staff (read
state is per user); the inbound messages no single client matched, and attaching them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from proirp.clients.identity import phone_hashes
from proirp.clients.models import Client
from proirp.comms.inbox import tallies
from proirp.comms.inbox.incidents import conversation_of, open_conversations
from proirp.comms.inbox.models import (
    ConversationRead,
    InboxConversation,
    MessageMedia,
    MessageRead,
    UrgentIncident,
)
from proirp.comms.models import Communication, Direction
from proirp.kit.db import lock_shared_writes
from proirp.kit.pagination import Cursor
from proirp.kit.time import utcnow

INBOUND = Communication.direction == Direction.INBOUND
# At most this many conversations a reader has read nothing of get rows of their own at once.
KEEP_NEVER_READ = 1_000


def thread(
    session: Session, client_id: str, *, limit: int, cursor: Cursor | None
) -> tuple[list[Communication], str | None]:
    """A page of the client's messages, oldest to newest: the newest `limit`, or those before
    `cursor`; the next cursor leads to earlier ones."""
    page, next_cursor = _newest_first(
        session, Communication.client_id == client_id, limit=limit, cursor=cursor
    )
    return list(reversed(page)), next_cursor


def _newest_first(
    session: Session, where: ColumnElement[bool], *, limit: int, cursor: Cursor | None
) -> tuple[list[Communication], str | None]:
    """A page of the messages `where` holds, newest first, and the cursor to the next one."""
    stmt = select(Communication).where(where)
    if cursor is not None:
        stmt = stmt.where(cursor.before(Communication.created_at, Communication.id))
    stmt = stmt.order_by(Communication.created_at.desc(), Communication.id.desc())
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    return page, Cursor(page[-1].created_at, page[-1].id).encode() if more else None


def media_of(session: Session, ids: Sequence[str]) -> dict[str, list[MessageMedia]]:
    if not ids:
        return {}
    stmt = (
        select(MessageMedia)
        .options(defer(MessageMedia.content))  # the bytes are read only to serve them
        .where(MessageMedia.communication_id.in_(ids))
        .order_by(MessageMedia.communication_id, MessageMedia.position)
    )
    found: dict[str, list[MessageMedia]] = {}
    for media in session.scalars(stmt):
        found.setdefault(media.communication_id, []).append(media)
    return found


def read_by(session: Session, user_id: str, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    stmt = select(MessageRead.communication_id).where(
        MessageRead.user_id == user_id, MessageRead.communication_id.in_(ids)
    )
    return set(session.scalars(stmt))


def _same_conversation(comm: Communication) -> ColumnElement[bool]:
    if comm.client_id:
        return Communication.client_id == comm.client_id
    return and_(Communication.client_id.is_(None), Communication.from_hash == comm.from_hash)


def mark_read(session: Session, user_id: str, comm: Communication) -> int:
    """`comm` and every earlier inbound message of its conversation are read by `user_id`;
    returns how many were unread."""
    now = utcnow()
    unread = select(
        literal(user_id), Communication.id, literal(now, type_=MessageRead.read_at.type)
    ).where(
        INBOUND,
        _same_conversation(comm),
        Communication.created_at <= comm.created_at,
        ~select(MessageRead.communication_id)
        .where(MessageRead.user_id == user_id, MessageRead.communication_id == Communication.id)
        .exists(),
    )
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        make(MessageRead.__table__)  # type: ignore[arg-type]
        .from_select(["user_id", "communication_id", "read_at"], unread)
        .on_conflict_do_nothing()
        .returning(MessageRead.communication_id)
    )
    newly_read = len(session.execute(statement).all())
    tallies.count_read(session.connection(), user_id, conversation_of(comm), newly_read)
    return newly_read


# client_id, number, last_inbound_at, urgent, unread
Part = Select[str | None, str | None, datetime, int, int]


@dataclass(frozen=True)
class Conversation:
    client_id: str | None
    number: str | None  # for a conversation with no client: the number that wrote
    urgent: bool
    unread: int
    last_inbound_at: datetime


def conversations(
    session: Session,
    user_id: str,
    *,
    visible: ColumnElement[bool],
    every_client: bool,
    limit: int,
    offset: int,
) -> tuple[list[Conversation], bool]:
    """A page of the conversations `visible` lets through (a condition on
    InboxConversation.client_id): urgent ones first, then those with messages `user_id` has not
    read, then the most recent; and whether more follow (a conversation is a client's messages,
    or, for messages of no client, a number's).

    Read from the rows kept at intake and at reading (tallies.py), in four parts: the urgent
    conversations (a few), those the reader has never read anything of, those they have read
    some of, and those they have read all of. Each part is read newest first and cut at the
    page's end, so each is the start of an index range (decision 0028); the page is cut from
    the four."""
    parts = _parts(
        session, user_id, visible=visible, every_client=every_client, take=offset + limit + 1
    )
    every = union_all(*(select(*part.subquery().c) for part in parts)).subquery()
    client_id, number, last_at, mark, count = every.c
    stmt = (
        select(client_id, number, mark, count, last_at)
        .order_by(mark.desc(), case((count > 0, 0), else_=1), last_at.desc(), client_id, number)
        .limit(limit + 1)
        .offset(offset)
    )
    found = [
        Conversation(row_client, row_number, bool(row_mark), int(row_count), at)
        for row_client, row_number, row_mark, row_count, at in session.execute(stmt)
    ]
    return found[:limit], len(found) > limit


def _parts(
    session: Session,
    user_id: str,
    *,
    visible: ColumnElement[bool],
    every_client: bool,
    take: int,
) -> list[Part]:
    """The inbox's four parts (urgent; never read; read in part; read to the end), each its
    first `take` rows in the inbox's order: columns client_id, number, last_inbound_at, urgent,
    unread."""
    conv, mine = InboxConversation, ConversationRead
    urgent = urgent_conversations(session)
    order = (conv.client_id, conv.number)
    outputs = (conv.client_id, conv.number, conv.last_inbound_at)
    not_urgent = conv.conversation.not_in(urgent)
    parts: list[Part] = [
        select(*outputs, literal(1).label("urgent"), func.coalesce(mine.unread, conv.messages))
        .outerjoin(mine, and_(mine.conversation == conv.conversation, mine.user_id == user_id))
        .where(conv.conversation.in_(urgent), visible)
    ]
    untouched = take if not every_client else min(take, _never_read_rows(session, user_id))
    if untouched > 0:
        parts.append(
            select(*outputs, literal(0).label("urgent"), conv.messages)
            .where(
                visible,
                not_urgent,
                ~select(mine.conversation)
                .where(mine.user_id == user_id, mine.conversation == conv.conversation)
                .exists(),
            )
            .order_by(conv.last_inbound_at.desc(), *order)
            .limit(untouched)
        )
    for some_unread in (mine.unread > 0, mine.unread == 0):
        parts.append(
            select(*outputs, literal(0).label("urgent"), mine.unread)
            .join(conv, conv.conversation == mine.conversation)
            .where(mine.user_id == user_id, some_unread, not_urgent, visible)
            .order_by(mine.last_inbound_at.desc(), *order)
            .limit(take)
        )
    return parts


def _never_read_rows(session: Session, user_id: str) -> int:
    """How many conversations the inbox must find by walking every conversation for `user_id`
    (one who sees every client): those they have read nothing of. When only a few are left (a
    reader who keeps up), they get rows of their own, all unread, once, and none is left to walk
    for: the walk to find them happens once, not at each request."""
    never_read = _never_read(session, user_id)
    if 0 < never_read <= KEEP_NEVER_READ:
        # Under the writers' turn, as intake and marking read write these rows.
        lock_shared_writes(session)
        tallies.note_never_read(session.connection(), user_id, KEEP_NEVER_READ)
        never_read = _never_read(session, user_id)  # none, unless more came before the turn
    return never_read


def _never_read(session: Session, user_id: str) -> int:
    """How many conversations `user_id` has read nothing of: every conversation but those they
    have a row for (each row's conversation exists). Two counts of index entries."""
    conversations = select(func.count()).select_from(InboxConversation).scalar_subquery()
    touched = (
        select(func.count())
        .select_from(ConversationRead)
        .where(ConversationRead.user_id == user_id)
        .scalar_subquery()
    )
    return int(session.scalar(select(conversations - touched)) or 0)


def urgent_conversations(session: Session) -> set[str]:
    """The conversations with an open urgent incident (one whose message staff have since
    attached to a client counts for that client's conversation too)."""
    keys = open_conversations(session)
    attached = (
        select(Communication.client_id)
        .join(UrgentIncident, UrgentIncident.communication_id == Communication.id)
        .where(UrgentIncident.acknowledged_at.is_(None), Communication.client_id.is_not(None))
    )
    keys.update(f"client:{client_id}" for client_id in session.scalars(attached))
    return keys


def unmatched(
    session: Session, *, limit: int, cursor: Cursor | None
) -> tuple[list[Communication], str | None]:
    """Inbound messages attached to no client, newest first."""
    unattached = and_(INBOUND, Communication.client_id.is_(None))
    return _newest_first(session, unattached, limit=limit, cursor=cursor)


def candidates(session: Session, numbers: Sequence[str]) -> dict[str, list[str]]:
    """For each number, the ids of the clients with that phone (several: a family)."""
    if not numbers:
        return {}
    by_hash = phone_hashes(session, set(numbers))
    stmt = (
        select(Client.phone_hash, Client.id)
        .where(Client.phone_hash.in_(by_hash), Client.deleted_at.is_(None))
        .order_by(Client.created_at, Client.id)
    )
    found: dict[str, list[str]] = {}
    for phone_hash, client_id in session.execute(stmt):
        found.setdefault(by_hash[phone_hash or ""], []).append(client_id)
    return found


def attach(
    session: Session, message: Communication, client_id: str, *, all_from_number: bool
) -> list[str]:
    """Attach an unattached inbound message (and, with `all_from_number`, every other one from
    the same number) to a client; returns the ids attached."""
    stmt = select(Communication.id).where(INBOUND, Communication.client_id.is_(None))
    if all_from_number:
        stmt = stmt.where(Communication.from_hash == message.from_hash)
    else:
        stmt = stmt.where(Communication.id == message.id)
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            update(Communication)
            .where(Communication.id.in_(ids), Communication.client_id.is_(None))
            .values(client_id=client_id, updated_at=utcnow())
        )
        session.execute(
            update(UrgentIncident)
            .where(UrgentIncident.communication_id.in_(ids), UrgentIncident.client_id.is_(None))
            .values(client_id=client_id)
            .execution_options(synchronize_session=False)
        )
        # The number's conversation loses the messages (all of them, or one), the client's
        # gains them, with what each member of staff had read of them.
        keys = [f"number:{message.from_hash}", f"client:{client_id}"]
        tallies.recount(session.connection(), keys)
    return ids
