"""What the inbox keeps as messages arrive and are read (decision 0028): a row per conversation
(its inbound messages and the newest one's time) and, per member of staff, how many of a
conversation's messages they have not read, so a page of the inbox is a range of an index.

Every inbound message and every read written through the ORM is counted by the listeners below,
whoever writes it; the product's statements that write them without the ORM (marking read,
attaching) call these functions themselves. Each change is one statement (an upsert, or an
UPDATE that adds to what is there), so two messages of a conversation arriving at once both
count. Attaching messages to a client recounts the two conversations it touches from the
messages and reads themselves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    case,
    delete,
    event,
    func,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapper

from proirp.comms.inbox.incidents import conversation_of
from proirp.comms.inbox.models import ConversationRead, InboxConversation, MessageRead
from proirp.comms.models import Communication, Direction

CONVERSATIONS = cast(Table, InboxConversation.__table__)
READS = cast(Table, ConversationRead.__table__)
INBOUND = Communication.direction == Direction.INBOUND
# A message's conversation, as incidents.conversation_of names it, in SQL.
KEY = case(
    (Communication.client_id.is_not(None), literal("client:") + Communication.client_id),
    else_=literal("number:") + Communication.from_hash,
)


def _postgres(db: Connection) -> bool:
    return db.dialect.name == "postgresql"


def _insert(db: Connection) -> Callable[..., Any]:
    return postgresql.insert if _postgres(db) else sqlite.insert


def _later(db: Connection, column: Any, value: Any) -> ColumnElement[Any]:
    """The later of a time column and a value (SQLite's max() of two is PostgreSQL's
    greatest(); SQLite keeps times as text in one format, so the later sorts last)."""
    value = literal(value, type_=column.type)
    if _postgres(db):
        return func.greatest(column, value, type_=column.type)
    return func.max(column, value, type_=column.type)


def count_inbound(db: Connection, comm: Communication) -> None:
    """`comm` (an inbound message, flushed) has arrived: its conversation counts one more
    message, and it is unread for everyone who had read some of the conversation (those who
    had not have no row: all of it is unread for them)."""
    key = conversation_of(comm)
    at = comm.created_at
    insert = _insert(db)(CONVERSATIONS).values(
        conversation=key,
        client_id=comm.client_id,
        number=None if comm.client_id else comm.from_address,
        messages=1,
        last_inbound_at=at,
    )
    db.execute(
        insert.on_conflict_do_update(
            index_elements=[CONVERSATIONS.c.conversation],
            set_={
                "messages": CONVERSATIONS.c.messages + 1,
                "last_inbound_at": _later(db, CONVERSATIONS.c.last_inbound_at, at),
            },
        )
    )
    db.execute(
        update(READS)
        .where(READS.c.conversation == key)
        .values(
            unread=READS.c.unread + 1,
            last_inbound_at=_later(db, READS.c.last_inbound_at, at),
        )
    )


def count_read(db: Connection, user_id: str, conversation: str, newly_read: int) -> None:
    """`user_id` has just read `newly_read` more inbound messages of `conversation`."""
    if newly_read == 0:
        return
    first_read = select(
        literal(user_id, type_=String),
        CONVERSATIONS.c.conversation,
        CONVERSATIONS.c.messages - newly_read,
        CONVERSATIONS.c.last_inbound_at,
    ).where(CONVERSATIONS.c.conversation == conversation)
    insert = _insert(db)(READS).from_select(
        ["user_id", "conversation", "unread", "last_inbound_at"], first_read
    )
    db.execute(
        insert.on_conflict_do_update(
            index_elements=[READS.c.user_id, READS.c.conversation],
            set_={"unread": READS.c.unread - newly_read},
        )
    )


def note_never_read(db: Connection, user_id: str, how_many: int) -> None:
    """Give `user_id` a row, all unread, for each conversation they have read nothing of (the
    newest `how_many`), so the inbox finds those in their index of unread conversations instead
    of walking every conversation for them (decision 0028)."""
    never_read = (
        select(
            literal(user_id, type_=String),
            CONVERSATIONS.c.conversation,
            CONVERSATIONS.c.messages,
            CONVERSATIONS.c.last_inbound_at,
        )
        .where(
            ~select(READS.c.conversation)
            .where(READS.c.user_id == user_id, READS.c.conversation == CONVERSATIONS.c.conversation)
            .exists()
        )
        .order_by(CONVERSATIONS.c.last_inbound_at.desc())
        .limit(how_many)
    )
    insert = _insert(db)(READS).from_select(
        ["user_id", "conversation", "unread", "last_inbound_at"], never_read
    )
    db.execute(insert.on_conflict_do_nothing())


def recount(db: Connection, keys: Sequence[str] | None = None) -> None:
    """Count the conversations `keys` (all of them with None) again from their messages and
    who has read them: after messages moved from one conversation to another, and to fill the
    rows for messages written straight into the database."""
    if keys is not None and not keys:
        return
    if keys is None:
        db.execute(delete(READS))
        db.execute(delete(CONVERSATIONS))
    else:
        db.execute(delete(READS).where(READS.c.conversation.in_(keys)))
        db.execute(delete(CONVERSATIONS).where(CONVERSATIONS.c.conversation.in_(keys)))
    messages = select(
        KEY.label("conversation"),
        Communication.client_id,
        case((Communication.client_id.is_(None), Communication.from_address)).label("number"),
        Communication.created_at,
    ).where(INBOUND, *([] if keys is None else [_in_conversations(keys)]))
    inbound = messages.subquery()
    db.execute(
        CONVERSATIONS.insert().from_select(
            ["conversation", "client_id", "number", "messages", "last_inbound_at"],
            select(
                inbound.c.conversation,
                inbound.c.client_id,
                # Each message holds the number encrypted apart: any of them names it.
                func.min(inbound.c.number),
                func.count(),
                func.max(inbound.c.created_at),
            ).group_by(inbound.c.conversation, inbound.c.client_id),
        )
    )
    read = (
        select(MessageRead.user_id, KEY.label("conversation"))
        .join(Communication, Communication.id == MessageRead.communication_id)
        .where(INBOUND, *([] if keys is None else [_in_conversations(keys)]))
        .subquery()
    )
    db.execute(
        READS.insert().from_select(
            ["user_id", "conversation", "unread", "last_inbound_at"],
            select(
                read.c.user_id,
                CONVERSATIONS.c.conversation,
                CONVERSATIONS.c.messages - func.count(),
                CONVERSATIONS.c.last_inbound_at,
            )
            .join(CONVERSATIONS, CONVERSATIONS.c.conversation == read.c.conversation)
            .group_by(
                read.c.user_id,
                CONVERSATIONS.c.conversation,
                CONVERSATIONS.c.messages,
                CONVERSATIONS.c.last_inbound_at,
            ),
        )
    )


def _in_conversations(keys: Sequence[str]) -> ColumnElement[bool]:
    """The messages of the conversations `keys`, by the columns their indexes hold."""
    clients = [key.removeprefix("client:") for key in keys if key.startswith("client:")]
    numbers = [key.removeprefix("number:") for key in keys if key.startswith("number:")]
    return or_(
        Communication.client_id.in_(clients),
        and_(Communication.client_id.is_(None), Communication.from_hash.in_(numbers)),
    )


# The ORM's writers -------------------------------------------------------------------------


@event.listens_for(Communication, "after_insert")
def _arrived(_mapper: Mapper[Any], db: Connection, comm: Communication) -> None:
    if comm.direction == Direction.INBOUND:
        count_inbound(db, comm)


@event.listens_for(Communication, "after_update")
def _moved(_mapper: Mapper[Any], db: Connection, comm: Communication) -> None:
    """An inbound message given to another client through the ORM: both conversations recount."""
    history = inspect(comm).attrs.client_id.history
    if comm.direction != Direction.INBOUND or not history.has_changes():
        return
    before = history.deleted[0] if history.deleted else None
    was = f"client:{before}" if before else f"number:{comm.from_hash}"
    recount(db, [was, conversation_of(comm)])


@event.listens_for(MessageRead, "after_insert")
def _read(_mapper: Mapper[Any], db: Connection, read: MessageRead) -> None:
    comm = db.execute(
        select(Communication.client_id, Communication.from_hash).where(
            Communication.id == read.communication_id, INBOUND
        )
    ).first()
    if comm is not None:
        client_id, number = comm
        key = f"client:{client_id}" if client_id else f"number:{number}"
        count_read(db, read.user_id, key, 1)
