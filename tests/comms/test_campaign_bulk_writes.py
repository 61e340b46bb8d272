"""A campaign's rows are written a chunk at a time, not a message at a time: the statements a
chunk's fan-out and a call's delivery send do not grow with their number of messages, and what
is written is what the one-by-one writes gave (encrypted text, events, audit rows, statuses that
only move forward)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import proirp.comms.email.tasks  # noqa: F401 (registers the delivery job the fan-out queues)
from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.clients.identity import address_hash
from proirp.clients.models import Client
from proirp.clients.phi import ClientIdentity, find_phi
from proirp.comms.campaigns.fan_out import fan_out
from proirp.comms.core.dispatch import deliver
from proirp.comms.core.pacing import SendPacer
from proirp.comms.core.repository import add_messages
from proirp.comms.core.status import mark_sent
from proirp.comms.email.dispatch import EmailChannel
from proirp.comms.models import Campaign, Communication, CommunicationEvent
from proirp.config import Settings
from proirp.integrations.base import EmailBatch, SendResult
from proirp.kit.db import insert_rows, new_id
from proirp.kit.time import utcnow
from proirp.worker import jobs
from tests.comms.rows import message_row, own_database
from tests.conftest import make_settings

SUBJECT = "Office closed Monday"
TEXT = "Our office is closed on Monday. Please call us to reschedule."


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(Path(tmp_path_factory.mktemp("bulk-writes"))) as made:
        yield made


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def queued_jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """The jobs the fan-out sends after each chunk commits, kept instead of sent."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *args, **_: sent.append((name, args)))
    return sent


class AcceptingEmail:
    def __init__(self) -> None:
        self.batches: list[EmailBatch] = []

    def send(self, batch: EmailBatch) -> list[SendResult]:
        self.batches.append(batch)
        return [SendResult(f"sg-{len(self.batches)}", "queued")]


def _campaign(factory: sessionmaker[Session], count: int) -> str:
    """An email campaign to `count` new clients, as POST /comms/bulk records it."""
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        clients = [
            Client(
                first_name="Avery",
                last_name="Quinn",
                email=f"client{i}.{new_id()}@example.com",
                timezone="America/Chicago",
                email_consent=True,
            )
            for i in range(count)
        ]
        session.add_all([user, *clients])
        session.flush()
        campaign = Campaign(
            channel="email",
            created_by_user_id=user.id,
            subject=SUBJECT,
            body=TEXT,
            selection={"client_ids": [c.id for c in clients]},
            total=count,
        )
        session.add(campaign)
        session.commit()
        return campaign.id


class Statements:
    """Counts the statements an engine sends while it is open."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.engine = factory.kw["bind"]
        self.count = 0

    def _seen(self, *_: object) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _fan_out_and_deliver(
    factory: sessionmaker[Session],
    settings: Settings,
    queued_jobs: list[tuple[str, tuple[Any, ...]]],
    count: int,
) -> tuple[str, int, int]:
    """(campaign id, statements of the fan-out, statements of the delivery) for `count`."""
    campaign_id = _campaign(factory, count)
    queued_jobs.clear()
    with Statements(factory) as fanning:
        fan_out(factory, settings, campaign_id)
    [(name, (comm_ids,))] = queued_jobs
    assert name == "comms.deliver_email_batch" and len(comm_ids) == count
    channel = EmailChannel(AcceptingEmail(), settings)
    with Statements(factory) as delivering:
        deliver(factory, settings, SendPacer(settings, rate=None, name="t"), channel, comm_ids)
    return campaign_id, fanning.count, delivering.count


def test_a_chunk_takes_as_many_statements_for_forty_messages_as_for_two(
    factory: sessionmaker[Session],
    settings: Settings,
    queued_jobs: list[tuple[str, tuple[Any, ...]]],
) -> None:
    _, fan_two, deliver_two = _fan_out_and_deliver(factory, settings, queued_jobs, 2)
    campaign_id, fan_forty, deliver_forty = _fan_out_and_deliver(factory, settings, queued_jobs, 40)
    assert (fan_forty, deliver_forty) == (fan_two, deliver_two)

    # What is written is what writing each message by itself gave.
    with factory() as session:
        comms = session.scalars(
            select(Communication).where(Communication.campaign_id == campaign_id)
        ).all()
        assert len(comms) == 40
        assert {(c.status, c.subject, c.body, c.substitutions) for c in comms} == {
            ("sent", SUBJECT, TEXT, "{}")
        }
        assert all(c.sent_at is not None and c.provider_message_id == "sg-1" for c in comms)
        ids = [c.id for c in comms]
        history = session.execute(
            select(CommunicationEvent.status, func.count())
            .where(CommunicationEvent.communication_id.in_(ids))
            .group_by(CommunicationEvent.status)
        ).all()
        assert dict(history) == {"queued": 40, "sending": 40, "sent": 40}
        audits = session.scalars(select(AuditLog).where(AuditLog.action == "EMAIL_SENT")).all()
        sent = {a.details["communication_id"]: a.client_id for a in audits if a.details}
        assert {i: sent[i] for i in ids} == {c.id: c.client_id for c in comms}
        # The text each row shares is stored encrypted, as any message's is.
        raw = session.execute(
            text("SELECT subject, body FROM communications WHERE id = :id"), {"id": ids[0]}
        ).one()
        assert SUBJECT not in raw.subject and TEXT not in raw.body


def test_marking_a_call_sent_never_moves_a_message_back(factory: sessionmaker[Session]) -> None:
    sending = message_row(factory, channel="email", status="sending", claimed_at=utcnow())
    delivered = message_row(factory, channel="email", status="delivered")
    with factory() as session:
        session.get(Communication, delivered.id).provider_message_id = "sg-earlier"  # type: ignore[union-attr]
        session.commit()
    with factory() as session:
        found = mark_sent(session, [sending.id, delivered.id, "no-such-id"], "sg-2")
        session.commit()
    assert set(found) == {sending.id, delivered.id}
    with factory() as session:
        moved = session.get(Communication, sending.id)
        kept = session.get(Communication, delivered.id)
        assert moved is not None and kept is not None
        assert (moved.status, moved.provider_message_id) == ("sent", "sg-2")
        assert moved.sent_at is not None
        assert (kept.status, kept.provider_message_id, kept.sent_at) == (
            "delivered",
            "sg-earlier",
            None,
        )
        # The history keeps the call's word for both, as advance() does.
        for comm_id in (sending.id, delivered.id):
            statuses = session.scalars(
                select(CommunicationEvent.status).where(
                    CommunicationEvent.communication_id == comm_id
                )
            ).all()
            assert "sent" in statuses


def test_rows_inserted_at_once_are_encrypted_and_a_duplicate_is_an_integrity_error(
    factory: sessionmaker[Session],
) -> None:
    table = cast(Table, CommunicationEvent.__table__)
    comm = message_row(factory, channel="email")
    now = utcnow()
    row = {
        "id": new_id(),
        "communication_id": comm.id,
        "status": "queued",
        "source": "worker",
        "reason": None,
        "error_code": None,
        "provider_event_id": None,
        "occurred_at": now,
        "created_at": now,
    }
    with factory() as session:
        insert_rows(session, table, [row])
        session.commit()
    with factory() as session, pytest.raises(IntegrityError):
        insert_rows(session, table, [row])
    secret = {
        "id": new_id(),
        "channel": "email",
        "to_address": "avery@example.com",
        "body": "A body that is PHI",
        "status": "queued",
        "direction": "outbound",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    with factory() as session:
        add_messages(session, [secret])  # a campaign chunk's writer: the address hashed too
        session.commit()
        stored = session.execute(
            text("SELECT body, to_address, to_hash FROM communications WHERE id = :id"),
            {"id": secret["id"]},
        ).one()
        assert "PHI" not in stored.body and "avery" not in stored.to_address
        assert stored.to_hash == address_hash(session, "email", "Avery@example.com ")
        written = session.get(Communication, secret["id"])
        assert written is not None and written.body == "A body that is PHI"
        assert written.to_address == "avery@example.com"


@pytest.mark.parametrize(
    ("text_", "found"),
    [
        ("Hello AVERY, see you soon.", True),
        ("Hello from Averyville.", False),
        ("Bonjour ZOË, à bientôt.", True),
        ("Bonjour Zoëlle.", False),
    ],
)
def test_a_client_s_name_is_found_whatever_its_case_and_only_as_a_word(
    text_: str, found: bool
) -> None:
    for first in ("Avery", "Zoë"):
        identity = ClientIdentity(first, "Quinn")
        expected = found and first.lower() in text_.lower()
        assert ("the client's name" in find_phi(text_, client=identity)) is expected
