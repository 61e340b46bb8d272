"""A status callback that never arrived: the SMS is looked up at Twilio and moved on, audited as
a callback would have been; the sweeper picks which messages to ask about and when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.comms import tasks as sweeper
from proirp.comms.models import Communication, CommunicationEvent
from proirp.comms.sms.follow_up import follow_up
from proirp.config import Settings
from proirp.integrations.base import ProviderMessage, ProviderTemporaryError
from proirp.integrations.twilio.adapter import TwilioSmsSender
from proirp.kit.time import Clock, utcnow
from proirp.worker.jobs import JobContext
from tests.comms.conftest import add_client, send, wait_for_status
from tests.comms.rows import message_row, own_database
from tests.comms.test_dispatch import FakeSms
from tests.conftest import make_settings
from tests.live import SANDBOX_FROM, LiveStack, free_port, live_stack, wait_until


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The product, whose address Twilio has is down: every status callback fails."""
    settings = {"PUBLIC_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    with live_stack(tmp_path_factory.mktemp("follow-up"), settings=settings) as stack:
        yield stack


def _twilio(live: LiveStack) -> TwilioSmsSender:
    sid, token = live.sandbox_auth
    return TwilioSmsSender(
        account_sid=sid,
        auth_token=token,
        from_number=SANDBOX_FROM,
        api_base=f"{live.sandbox_url}/twilio",
    )


def _callbacks_failed(live: LiveStack) -> int:
    with live.sandbox() as sandbox:
        return int(sandbox.get("/_sandbox/stats").json().get("callbacks_failed", 0))


def test_a_message_whose_callbacks_were_lost_is_looked_up_and_delivered(
    unreachable: LiveStack,
) -> None:
    live = unreachable
    comm_id = send(live, add_client(live, "+12025550161")).json()["communication"]["id"]
    wait_for_status(live, comm_id, {"sent"})
    # Twilio gave up on both callbacks (sent, delivered): we would never hear of delivery.
    assert wait_until(lambda: _callbacks_failed(live) >= 2, timeout=20)
    factory = sessionmaker(live.engine, expire_on_commit=False)
    with factory() as session:
        assert session.get(Communication, comm_id).status == "sent"  # type: ignore[union-attr]

    assert follow_up(factory, _twilio(live), comm_id) == "delivered"
    assert follow_up(factory, _twilio(live), comm_id) is None  # nothing left to ask

    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        assert (comm.status, comm.delivered_at is not None) == ("delivered", True)
        events = session.scalars(
            select(CommunicationEvent).where(CommunicationEvent.communication_id == comm_id)
        ).all()
        assert [e.status for e in events][-1] == "delivered"
        audited = session.scalars(
            select(AuditLog).where(AuditLog.action == "SMS_STATUS_CHANGED")
        ).all()
        mine = [row for row in audited if row.details.get("communication_id") == comm_id]
        assert [row.details.get("asked_twilio") for row in mine] == [True]
        assert "+12025550161" not in str(mine[0].details)


@pytest.fixture(scope="module")
def factory(
    tmp_path_factory: pytest.TempPathFactory, app: FastAPI
) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("follow-up-sweep")) as factory:
        yield factory


def _sent_sms(factory: sessionmaker[Session], sid: str) -> str:
    comm = message_row(factory, status="sent")
    with factory() as session:
        row = session.get(Communication, comm.id)
        assert row is not None
        row.provider_message_id = sid
        row.sent_at = utcnow()
        session.commit()
    return comm.id


def _asked(swept: list[tuple[str, tuple[Any, ...]]]) -> set[str]:
    return {args[0] for name, args in swept if name == "comms.check_sms_status"}


def test_the_sweeper_asks_about_a_quiet_sent_sms_then_hourly_then_no_more(
    factory: sessionmaker[Session],
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
    tmp_path: Path,
) -> None:
    ctx = JobContext(make_settings(tmp_path), factory)
    comm_id = _sent_sms(factory, "SM" + "a" * 32)
    clock.advance(timedelta(minutes=10))
    sweeper.sweep(ctx)
    assert comm_id not in _asked(swept)  # a delivery callback can still come

    clock.advance(timedelta(minutes=6))
    sweeper.sweep(ctx)
    assert comm_id in _asked(swept)

    # Its job has not run yet: the next sweeps leave it to that job for five minutes.
    swept.clear()
    clock.advance(timedelta(minutes=1))
    sweeper.sweep(ctx)
    assert comm_id not in _asked(swept)
    clock.advance(timedelta(minutes=5))
    sweeper.sweep(ctx)
    assert comm_id in _asked(swept)  # the job was lost: asked again

    # Twilio still says `sent`: asked again in an hour, not at every sweep.
    assert follow_up(factory, _Twilio("sent"), comm_id) == "sent"
    swept.clear()
    clock.advance(timedelta(minutes=30))
    sweeper.sweep(ctx)
    assert comm_id not in _asked(swept)
    clock.advance(timedelta(minutes=31))
    sweeper.sweep(ctx)
    assert comm_id in _asked(swept)

    swept.clear()
    clock.advance(timedelta(hours=24))
    sweeper.sweep(ctx)
    assert comm_id not in _asked(swept)  # a day after it went: `sent` is all anyone will learn


def test_a_scheduled_sms_is_asked_about_by_when_it_went_not_when_it_was_made(
    factory: sessionmaker[Session],
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
    tmp_path: Path,
) -> None:
    comm = message_row(factory, status="sent")  # made long before it was sent (send_at)
    clock.advance(timedelta(days=30))
    with factory() as session:
        row = session.get(Communication, comm.id)
        assert row is not None
        row.provider_message_id, row.sent_at, row.updated_at = "SM" + "c" * 32, utcnow(), utcnow()
        session.commit()
    clock.advance(timedelta(minutes=20))
    sweeper.sweep(JobContext(make_settings(tmp_path), factory))
    assert comm.id in _asked(swept)


def test_the_sweeper_leaves_delivered_email_and_unsent_messages_alone(
    factory: sessionmaker[Session],
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
    tmp_path: Path,
) -> None:
    settings: Settings = make_settings(tmp_path)
    delivered = message_row(factory, status="delivered").id
    email = message_row(factory, channel="email", status="sent").id
    no_sid = message_row(factory, status="sent").id  # never accepted by Twilio as far as we know
    clock.advance(timedelta(hours=2))
    sweeper.sweep(JobContext(settings, factory))
    assert not _asked(swept) & {delivered, email, no_sid}


class _Twilio(FakeSms):
    """Twilio as the test has it: still `sent`, or not answering."""

    def __init__(self, status: str | None) -> None:
        super().__init__()
        self.status = status

    def fetch(self, provider_message_id: str) -> ProviderMessage:
        if self.status is None:
            raise ProviderTemporaryError("twilio", "503", "Twilio is not answering.")
        return ProviderMessage(provider_message_id, "+12025550143", None, self.status, None, None)


@pytest.mark.parametrize(
    ("at_twilio", "answer"), [("sent", "sent"), ("sending", "sending"), (None, None)]
)
def test_no_news_at_twilio_is_asked_again_in_an_hour_and_nothing_changes(
    factory: sessionmaker[Session], clock: Clock, at_twilio: str | None, answer: str | None
) -> None:
    comm_id = _sent_sms(factory, "SM" + "b" * 32)
    assert follow_up(factory, _Twilio(at_twilio), comm_id) == answer
    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        assert comm.status == "sent"
        assert comm.next_attempt_at == utcnow() + timedelta(hours=1)
