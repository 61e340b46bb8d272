"""What the inbox keeps per conversation and per reader (decision 0028) stays what counting the
messages and reads themselves gives: after a text arrives, after marking read, after attaching
a number's messages to a client (some or all, into a conversation that already has messages and
reads), and when a text arrives in a conversation already read."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from proirp.clients.models import Client
from proirp.comms.inbox.incidents import conversation_of
from proirp.comms.inbox.models import ConversationRead, InboxConversation, MessageRead
from proirp.comms.inbox.tallies import CONVERSATIONS, count_inbound
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.comms.test_inbox import PHONE, inbound, inbound_rows, office
from tests.factories import Staff, create_client, create_staff, number_conversation

STRANGER = "+12025550178"
Kept = tuple[dict[str, tuple[int, datetime]], dict[tuple[str, str], int]]


def _kept(db: Session) -> Kept:
    """The rows kept; a reader's row with nothing read (the inbox gives one to a reader with few
    conversations read of nothing) counts as no row."""
    db.expire_all()
    conversations = {
        row.conversation: (row.messages, row.last_inbound_at)
        for row in db.scalars(select(InboxConversation))
    }
    reads = {}
    for row in db.scalars(select(ConversationRead)):
        assert row.last_inbound_at == conversations[row.conversation][1]
        if row.unread < conversations[row.conversation][0]:
            reads[(row.user_id, row.conversation)] = row.unread
    return conversations, reads


def _counted(db: Session) -> Kept:
    """The same, counted from every inbound message and every read."""
    messages = list(db.scalars(select(Communication).where(Communication.direction == "inbound")))
    counts = Counter(conversation_of(m) for m in messages)
    newest: dict[str, datetime] = {}
    for m in messages:
        key = conversation_of(m)
        newest[key] = max(newest.get(key, m.created_at), m.created_at)
    read = Counter(
        (user_id, conversation_of(comm))
        for user_id, comm in db.execute(
            select(MessageRead.user_id, Communication).join(
                Communication, Communication.id == MessageRead.communication_id
            )
        )
    )
    return (
        {key: (counts[key], newest[key]) for key in counts},
        {(user, key): counts[key] - n for (user, key), n in read.items()},
    )


def _arrive(api: TestClient, settings: Settings, at: datetime, body: str, phone: str) -> None:
    with set_clock(at):
        inbound(api, settings, body, phone=phone)


def _unread(api: TestClient, staff: Staff) -> dict[str, int]:
    answer = api.get("/inbox", headers=staff.headers)
    assert answer.status_code == 200, answer.text
    return {c["client_id"] or c["number"]: c["unread"] for c in answer.json()["conversations"]}


def test_a_text_counts_in_its_conversation_as_it_arrives(
    api: TestClient, db: Session, settings: Settings
) -> None:
    office(db, is_open=True)
    client = create_client(db, phone=PHONE)
    start = datetime.now(UTC).replace(microsecond=0)
    for n, phone in enumerate((PHONE, PHONE, STRANGER)):
        _arrive(api, settings, start + timedelta(seconds=n), f"message {n}", phone)
    conversations, reads = _kept(db)
    assert conversations == {
        f"client:{client.id}": (2, start + timedelta(seconds=1)),
        number_conversation(db, STRANGER): (1, start + timedelta(seconds=2)),
    }
    assert reads == {}
    assert _kept(db) == _counted(db)


def test_marking_read_counts_that_message_and_every_earlier_one(
    api: TestClient, db: Session, settings: Settings
) -> None:
    office(db, is_open=True)
    client = create_client(db, phone=PHONE)
    staff = create_staff(db, role="staff")
    start = datetime.now(UTC).replace(microsecond=0)
    for n in range(3):
        _arrive(api, settings, start + timedelta(seconds=n), f"message {n}", PHONE)
    rows = inbound_rows(db)
    api.post(f"/inbox/{rows[1].id}/read", headers=staff.headers)
    assert _kept(db)[1] == {(staff.user.id, f"client:{client.id}"): 1}
    api.post(f"/inbox/{rows[0].id}/read", headers=staff.headers)  # already read: no change
    assert _kept(db) == _counted(db)
    assert _unread(api, staff) == {client.id: 1}


def test_a_text_in_a_conversation_already_read_makes_it_unread_again(
    api: TestClient, db: Session, settings: Settings
) -> None:
    office(db, is_open=True)
    client, other = create_client(db, phone=PHONE), create_client(db, phone="+12025550190")
    staff = create_staff(db, role="staff")
    start = datetime.now(UTC).replace(microsecond=0)
    _arrive(api, settings, start, "first", PHONE)
    _arrive(api, settings, start + timedelta(seconds=1), "other", "+12025550190")
    api.post(f"/inbox/{inbound_rows(db)[0].id}/read", headers=staff.headers)
    listed = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert [c["client_id"] for c in listed] == [other.id, client.id]  # read: last

    _arrive(api, settings, start + timedelta(seconds=2), "again", PHONE)
    assert _kept(db) == _counted(db)
    listed = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert [(c["client_id"], c["unread"]) for c in listed] == [(client.id, 1), (other.id, 1)]


def test_attaching_moves_messages_counts_and_reads_between_conversations(
    api: TestClient, db: Session, settings: Settings
) -> None:
    office(db, is_open=True)
    staff, colleague = create_staff(db, role="staff"), create_staff(db, role="staff")
    start = datetime.now(UTC).replace(microsecond=0)
    for n in range(4):
        _arrive(api, settings, start + timedelta(seconds=n), f"stranger {n}", STRANGER)
    client = create_client(db, phone="+12025550191")
    _arrive(api, settings, start + timedelta(seconds=10), "mine", "+12025550191")
    strangers = inbound_rows(db, STRANGER)
    api.post(f"/inbox/{strangers[1].id}/read", headers=staff.headers)  # two of the number's
    api.post(f"/inbox/{inbound_rows(db, '+12025550191')[0].id}/read", headers=colleague.headers)

    one = api.post(
        f"/inbox/{strangers[0].id}/attach",
        json={"client_id": client.id, "all_from_number": False},
        headers=staff.headers,
    )
    assert one.status_code == 200, one.text
    assert _kept(db) == _counted(db)
    assert _unread(api, staff) == {STRANGER: 2, client.id: 1}
    assert _unread(api, colleague) == {STRANGER: 3, client.id: 1}

    rest = api.post(
        f"/inbox/{strangers[2].id}/attach",
        json={"client_id": client.id, "all_from_number": True},
        headers=staff.headers,
    )
    assert len(rest.json()["attached"]) == 3
    conversations, _reads = _kept(db)
    assert conversations == {f"client:{client.id}": (5, start + timedelta(seconds=10))}
    assert _kept(db) == _counted(db)
    assert _unread(api, staff) == {client.id: 3}
    assert _unread(api, colleague) == {client.id: 4}


def test_a_deleted_clients_conversation_stays_in_the_inbox(
    api: TestClient, db: Session, settings: Settings
) -> None:
    office(db, is_open=True)
    admin = create_staff(db, role="admin")
    client = create_client(db, phone=PHONE)
    inbound(api, settings, "hello")
    db.get_one(Client, client.id).deleted_at = datetime.now(UTC)
    db.flush()
    assert _unread(api, admin) == {client.id: 1}
    assert _kept(db) == _counted(db)


def test_two_texts_of_a_new_conversation_at_once_both_count(engine: Engine) -> None:
    """Two intakes of one conversation in two transactions at once (the second waits on the
    first's row, then adds to it): neither count is lost."""
    number, hashed = "+12025559911", "9911" * 8  # any hash names the conversation here
    key = f"number:{hashed}"
    at = datetime.now(UTC)

    def text_at(seconds: int) -> Communication:
        return Communication(  # as it is when the ORM has flushed it: hashed
            client_id=None,
            direction="inbound",
            from_address=number,
            from_hash=hashed,
            created_at=at + timedelta(seconds=seconds),
        )

    errors: list[BaseException] = []

    def second() -> None:
        try:
            with engine.begin() as conn:
                count_inbound(conn, text_at(1))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        with engine.begin() as conn:
            count_inbound(conn, text_at(2))
            other = threading.Thread(target=second)
            other.start()
            other.join(timeout=1)  # it waits for this transaction (PostgreSQL) or its lock
        other.join(timeout=30)
        assert not errors, errors
        with engine.connect() as conn:
            row = conn.execute(
                select(InboxConversation.messages, InboxConversation.last_inbound_at).where(
                    InboxConversation.conversation == key
                )
            ).one()
        assert tuple(row) == (2, at + timedelta(seconds=2))
    finally:
        with engine.begin() as conn:
            conn.execute(CONVERSATIONS.delete().where(InboxConversation.conversation == key))


def test_a_reader_who_keeps_up_finds_an_old_unread_conversation_first_and_from_a_row(
    api: TestClient, db: Session, settings: Settings
) -> None:
    """Front desk has read every conversation but the oldest: it is listed first, and it gets a
    row of its own (all unread), so later pages find it in the reader's index, not by walking
    every conversation; that row then counts new messages as any other."""
    office(db, is_open=True)
    staff = create_staff(db, role="staff")
    phones = ["+12025550192", "+12025550193", "+12025550194"]
    clients = [create_client(db, phone=phone) for phone in phones]
    start = datetime.now(UTC).replace(microsecond=0)
    for n, phone in enumerate(phones):
        _arrive(api, settings, start + timedelta(seconds=n), f"message {n}", phone)
    for phone in phones[1:]:
        api.post(f"/inbox/{inbound_rows(db, phone)[0].id}/read", headers=staff.headers)

    def listed() -> list[tuple[str, int]]:
        answer = api.get("/inbox", headers=staff.headers).json()["conversations"]
        return [(c["client_id"], c["unread"]) for c in answer]

    oldest, middle, newest = (client.id for client in clients)
    assert listed() == [(oldest, 1), (newest, 0), (middle, 0)]
    db.expire_all()
    row = db.get(ConversationRead, (staff.user.id, f"client:{oldest}"))
    assert row is not None and row.unread == 1

    _arrive(api, settings, start + timedelta(seconds=5), "again", phones[0])
    _arrive(api, settings, start + timedelta(seconds=6), "later", phones[1])
    assert listed() == [(middle, 1), (oldest, 2), (newest, 0)]
