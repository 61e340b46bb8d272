"""Email left `sending` by a worker that stopped: sent once by the normal path when its call
never started (a worker killed between its claim and its call, or one waiting for its pacing slot),
and `unknown`, never resent, when its call had started (decision 0003)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.comms import tasks as sweeper
from proirp.comms.core import repository
from proirp.comms.core.dispatch import Call, deliver
from proirp.comms.core.pacing import SendPacer
from proirp.comms.email.dispatch import EmailChannel, reconcile_email
from proirp.comms.models import Communication, CommunicationEvent
from proirp.config import Settings
from proirp.integrations.base import EmailBatch, EmailRecipient, SendResult
from proirp.kit.db import transaction
from proirp.kit.time import Clock, utcnow
from proirp.worker.jobs import JobContext
from tests.comms.rows import message_row, own_database
from tests.conftest import make_settings


class Killed(BaseException):
    """The worker's process ending mid-call (SIGKILL): nothing after it runs."""


class SendGrid:
    """An EmailSender that keeps every batch it took; `dies` ends the worker once it has one."""

    def __init__(self, *, dies: bool = False) -> None:
        self.batches: list[EmailBatch] = []
        self.dies = dies

    def send(self, batch: EmailBatch) -> list[SendResult]:
        self.batches.append(batch)
        if self.dies:
            raise Killed
        return [SendResult(f"sg-{len(self.batches)}", "accepted")]

    def took(self, comm_id: str) -> int:
        return sum(r.reference == comm_id for b in self.batches for r in b.recipients)


@pytest.fixture(scope="module")
def factory(
    tmp_path_factory: pytest.TempPathFactory, app: FastAPI
) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("sweep-unstarted")) as factory:
        yield factory


@pytest.fixture
def sweep_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, reconcile_after_seconds=30)


def _pacer(settings: Settings) -> SendPacer:
    # Its own name: with QUEUE_BACKEND=redis a hold one test sets would outlive it.
    return SendPacer(settings, rate=None, name=f"test-{uuid.uuid4().hex[:8]}")


def _row(factory: sessionmaker[Session], comm_id: str) -> Communication:
    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        return comm


def _events(factory: sessionmaker[Session], comm_id: str) -> list[tuple[str, str | None]]:
    with factory() as session:
        stmt = (
            select(CommunicationEvent.status, CommunicationEvent.reason)
            .where(CommunicationEvent.communication_id == comm_id)
            .order_by(CommunicationEvent.created_at, CommunicationEvent.id)
        )
        return [(status, reason) for status, reason in session.execute(stmt)]


def _run(
    factory: sessionmaker[Session],
    settings: Settings,
    jobs: list[tuple[str, tuple[Any, ...]]],
    sendgrid: SendGrid,
) -> None:
    """Run the jobs the sweeper queued, as a worker would."""
    for name, args in jobs:
        if name == "comms.deliver_email_batch":
            channel = EmailChannel(sendgrid, settings)
            deliver(factory, settings, _pacer(settings), channel, args[0])
        elif name == "comms.reconcile_email":
            reconcile_email(factory, settings, args[0], call_finished=False)
        else:
            pytest.fail(f"the sweeper queued {name}")


def test_an_email_whose_call_never_started_is_sent_once_and_one_whose_call_started_is_not(
    factory: sessionmaker[Session],
    sweep_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    settings = sweep_settings
    # A worker claimed this one and was killed before its call to SendGrid.
    unstarted = message_row(factory, channel="email").id
    with transaction(factory) as session:
        assert repository.claim_many(session, [unstarted], now=utcnow()) == [unstarted]
    # Another worker was killed while its call was on its way: SendGrid may have it.
    started = message_row(factory, channel="email").id
    dying = SendGrid(dies=True)
    with pytest.raises(Killed):
        deliver(factory, settings, _pacer(settings), EmailChannel(dying, settings), [started])
    assert dying.took(started) == 1
    assert _row(factory, unstarted).status == _row(factory, started).status == "sending"

    clock.advance(timedelta(minutes=10))  # past RECONCILE_AFTER_SECONDS and the longest call
    sweeper.sweep(JobContext(settings, factory))
    sendgrid = SendGrid()
    _run(factory, settings, swept, sendgrid)

    comm = _row(factory, unstarted)
    assert (comm.status, comm.provider_message_id) == ("sent", "sg-1")
    assert comm.attempts == 1  # the claim that never reached SendGrid spent no attempt
    assert sendgrid.took(unstarted) == 1 and dying.took(unstarted) == 0
    [why] = [reason for status, reason in _events(factory, unstarted) if status == "queued"]
    assert why is not None and "before calling SendGrid" in why
    assert _row(factory, started).status == "unknown"
    assert sendgrid.took(started) == 0  # never resent: it cannot arrive twice

    swept.clear()  # a later round finds nothing more to do
    clock.advance(timedelta(minutes=10))
    sweeper.sweep(JobContext(settings, factory))
    assert swept == []


class SlowSlot(SendPacer):
    """A pacer whose slot comes only after the sweeper has run (a long wait for the rate)."""

    def __init__(self, settings: Settings, meanwhile: Any) -> None:
        super().__init__(settings, rate=None, name=f"test-{uuid.uuid4().hex[:8]}")
        self.meanwhile = meanwhile

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> bool:
        self.meanwhile()
        return super().wait_for_slot(sender_key, poll=poll)


def test_a_worker_whose_rows_were_taken_back_while_it_waited_for_its_slot_does_not_send_them(
    factory: sessionmaker[Session],
    sweep_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    settings = sweep_settings
    comm_id = message_row(factory, channel="email").id
    slow = SendGrid()

    def sweep_meanwhile() -> None:
        clock.advance(timedelta(minutes=10))
        sweeper.sweep(JobContext(settings, factory))

    pacer = SlowSlot(settings, sweep_meanwhile)
    deliver(factory, settings, pacer, EmailChannel(slow, settings), [comm_id])
    assert slow.batches == []  # the sweeper took the row back first: the waiting call skips it
    assert _row(factory, comm_id).status == "queued"

    sendgrid = SendGrid()
    _run(factory, settings, swept, sendgrid)
    comm = _row(factory, comm_id)
    assert (comm.status, comm.attempts, sendgrid.took(comm_id)) == ("sent", 1, 1)


def test_a_call_narrowed_to_some_of_its_rows_carries_only_their_recipients(
    sweep_settings: Settings,
) -> None:
    settings = sweep_settings
    recipients = [EmailRecipient(to=f"{ref}@example.com", reference=ref) for ref in ("a", "b")]
    batch = EmailBatch("frontdesk@example.com", None, recipients, subject="Closed", text="Closed")
    call = Call(["a", "b"], {"a": 1, "b": 1}, batch)
    narrowed = EmailChannel(SendGrid(), settings).narrowed(call, ["b"])
    assert (narrowed.ids, narrowed.attempts) == (["b"], {"b": 1})
    assert [r.reference for r in narrowed.payload.recipients] == ["b"]
    assert narrowed.payload.subject == "Closed"
