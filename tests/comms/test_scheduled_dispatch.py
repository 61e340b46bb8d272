"""Scheduled sends in the worker, with a clock the tests move: nothing is claimed, swept or
fanned out before its time; the guard runs again when it goes; cancelled work never goes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.audit.service import RequestOrigin
from proirp.auth.models import User
from proirp.clients.models import Channel, Client, OptOut
from proirp.comms import tasks as sweeper
from proirp.comms.campaigns import service as campaigns
from proirp.comms.campaigns.fan_out import fan_out
from proirp.comms.core.cancelling import NotCancellable, cancel_message
from proirp.comms.core.dispatch import deliver
from proirp.comms.core.pacing import SendPacer
from proirp.comms.core.sending import Sender
from proirp.comms.email.dispatch import EmailChannel
from proirp.comms.email.service import send_email
from proirp.comms.email.suppression import suppress
from proirp.comms.models import Campaign, Communication
from proirp.comms.sms.dispatch import SmsChannel
from proirp.comms.sms.inbound import opt_out
from proirp.comms.sms.service import send_sms
from proirp.config import Settings
from proirp.integrations.base import SendResult
from proirp.kit.db import new_id
from proirp.kit.time import Clock
from proirp.worker.jobs import JobContext
from tests.comms.rows import own_database
from tests.comms.test_dispatch import FakeEmail, FakeSms, accepted
from tests.conftest import make_settings

BODY = "Please call our office."
_serial = count(10)


@pytest.fixture(scope="module")
def factory(
    tmp_path_factory: pytest.TempPathFactory, app: FastAPI
) -> Iterator[sessionmaker[Session]]:
    # `app` installs the jobs, so the delivery jobs a commit sends have somewhere to go.
    with own_database(tmp_path_factory.mktemp("scheduled")) as factory:
        yield factory


@pytest.fixture
def worker_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, reconcile_after_seconds=30)


def people(factory: sessionmaker[Session]) -> tuple[str, Client]:
    """A member of staff and a client who agreed to SMS and email, at a number and address of
    this test's own (opt-outs and suppressions are per address)."""
    n = next(_serial)
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        client = Client(
            first_name="Avery",
            last_name="Quinn",
            phone=f"+120255501{n:02d}",
            email=f"client{n}.{new_id()[:6]}@example.com",
            timezone="America/Chicago",
            sms_consent=True,
            email_consent=True,
        )
        session.add_all([user, client])
        session.commit()
        return user.id, client


def schedule_sms(
    factory: sessionmaker[Session], settings: Settings, user_id: str, client: Client, at: Any
) -> str:
    with factory() as session:
        comm = send_sms(
            session,
            to=None,
            body=BODY,
            client_id=client.id,
            user_id=user_id,
            settings=settings,
            send_at=at,
        )
        session.commit()
        return comm.id


def row(factory: sessionmaker[Session], comm_id: str) -> Communication:
    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        return comm


def actions(factory: sessionmaker[Session], key: str, value: str) -> list[str]:
    with factory() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [r.action for r in rows if (r.details or {}).get(key) == value]


def sms_deliver(
    factory: sessionmaker[Session], settings: Settings, sender: FakeSms, comm_id: str
) -> None:
    pacer = SendPacer(settings, rate=None, name="test")
    deliver(factory, settings, pacer, SmsChannel(sender, settings), [comm_id])


def test_a_scheduled_sms_is_not_claimed_or_swept_before_its_time_and_goes_after(
    factory: sessionmaker[Session],
    worker_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    user_id, client = people(factory)
    send_at = clock.now() + timedelta(minutes=10)
    comm_id = schedule_sms(factory, worker_settings, user_id, client, send_at)
    comm = row(factory, comm_id)
    assert (comm.status, comm.send_at, comm.next_attempt_at) == ("queued", send_at, send_at)

    sender = FakeSms(accepted("SM" + "a" * 32))
    clock.advance(timedelta(minutes=9))  # long past the sweeper's cutoff for a queued row
    sms_deliver(factory, worker_settings, sender, comm_id)
    sweeper.sweep(JobContext(worker_settings, factory))
    assert sender.sent == [] and row(factory, comm_id).status == "queued"
    assert all(comm_id not in str(args) for _, args in swept)

    clock.advance(timedelta(minutes=1, seconds=1))
    sms_deliver(factory, worker_settings, sender, comm_id)
    assert sender.sent == [(client.phone, BODY)]
    assert row(factory, comm_id).status == "sent"
    assert actions(factory, "communication_id", comm_id) == ["SMS_QUEUED", "SMS_SENT"]


def test_a_scheduled_sms_whose_job_was_lost_is_swept_once_it_is_due(
    factory: sessionmaker[Session],
    worker_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    user_id, client = people(factory)
    comm_id = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(hours=2)
    )
    clock.advance(timedelta(hours=2, seconds=31))  # due, and more than RECONCILE_AFTER late
    sweeper.sweep(JobContext(worker_settings, factory))
    assert ("comms.deliver_sms", (comm_id,)) in swept


def test_stop_between_scheduling_and_sending_blocks_the_sms(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock
) -> None:
    user_id, client = people(factory)
    comm_id = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(hours=1)
    )
    with factory() as session:
        assert client.phone
        assert opt_out(session, client.phone, word="STOP", origin=RequestOrigin()) == 1
        session.commit()
    clock.advance(timedelta(hours=1, minutes=1))
    sender = FakeSms(accepted("SMx"))
    sms_deliver(factory, worker_settings, sender, comm_id)
    assert sender.sent == []
    assert row(factory, comm_id).status == "blocked"


@pytest.mark.parametrize("change", ["opt_out_row", "consent_withdrawn"])
def test_the_guard_runs_again_when_a_scheduled_sms_goes(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock, change: str
) -> None:
    """What did not block the queued row as it happened (an opt-out another path wrote, a
    consent withdrawn) still stops it at send time."""
    user_id, client = people(factory)
    comm_id = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(hours=1)
    )
    with factory() as session:
        if change == "opt_out_row":
            session.add(OptOut(channel=Channel.SMS, address=client.phone, reason="x", source="t"))
        else:
            stored = session.get(Client, client.id)
            assert stored is not None
            stored.sms_consent = False
        session.commit()
    clock.advance(timedelta(hours=1, minutes=1))
    sender = FakeSms(accepted("SMx"))
    sms_deliver(factory, worker_settings, sender, comm_id)
    assert sender.sent == []
    comm = row(factory, comm_id)
    assert comm.status == "blocked"
    assert ("opted out" if change == "opt_out_row" else "consented") in (comm.status_reason or "")
    assert actions(factory, "communication_id", comm_id) == ["SMS_QUEUED", "SMS_BLOCKED"]


@pytest.mark.parametrize("change", ["phone_changed", "phone_cleared", "archived"])
def test_a_client_whose_number_changed_or_was_archived_is_not_sent_what_was_scheduled(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock, change: str
) -> None:
    """The number the message was written for may now be someone else's: it is not sent, to
    it or to the new one (whoever wrote it decides again); nor to a client archived since."""
    user_id, client = people(factory)
    comm_id = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(hours=1)
    )
    with factory() as session:
        stored = session.get(Client, client.id)
        assert stored is not None
        if change == "phone_changed":
            stored.phone = "+12025550199"
        elif change == "phone_cleared":
            stored.phone = None
        else:
            stored.deleted_at = clock.now()
        session.commit()
    clock.advance(timedelta(hours=1, minutes=1))
    sender = FakeSms(accepted("SMx"))
    sms_deliver(factory, worker_settings, sender, comm_id)
    assert sender.sent == []
    comm = row(factory, comm_id)
    assert comm.status == "blocked"
    assert ("archived" if change == "archived" else "changed") in (comm.status_reason or "")
    assert "0199" not in (comm.status_reason or "")
    assert actions(factory, "communication_id", comm_id) == ["SMS_QUEUED", "SMS_BLOCKED"]


def test_a_client_whose_email_changed_is_not_sent_what_was_scheduled(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock
) -> None:
    user_id, client = people(factory)
    with factory() as session:
        comm = send_email(
            session,
            to=None,
            subject="Office hours",
            text=BODY,
            html=None,
            client_id=client.id,
            user_id=user_id,
            settings=worker_settings,
            send_at=clock.now() + timedelta(days=1),
        )
        session.commit()
    with factory() as session:
        stored = session.get(Client, client.id)
        assert stored is not None
        stored.email = f"moved.{new_id()[:6]}@example.com"
        session.commit()
    clock.advance(timedelta(days=1, minutes=1))
    sender = FakeEmail(lambda: [SendResult("sg-1", "accepted")])
    pacer = SendPacer(worker_settings, rate=None, name="test")
    deliver(factory, worker_settings, pacer, EmailChannel(sender, worker_settings), [comm.id])
    assert sender.batches == []
    blocked = row(factory, comm.id)
    assert blocked.status == "blocked" and "changed" in (blocked.status_reason or "")


@pytest.mark.parametrize("how", ["suppress", "suppression_row"])
def test_a_suppression_between_scheduling_and_sending_blocks_the_email(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock, how: str
) -> None:
    user_id, client = people(factory)
    assert client.email
    with factory() as session:
        comm = send_email(
            session,
            to=None,
            subject="Office hours",
            text=BODY,
            html=None,
            client_id=client.id,
            user_id=user_id,
            settings=worker_settings,
            send_at=clock.now() + timedelta(days=3),
        )
        session.commit()
    with factory() as session:
        if how == "suppress":
            suppress(
                session,
                client.email,
                reason="bounced",
                source="test",
                client_id=client.id,
                origin=RequestOrigin(),
                cause="bounce",
            )
        else:
            session.add(
                OptOut(channel=Channel.EMAIL, address=client.email, reason="bounced", source="t")
            )
        session.commit()
    clock.advance(timedelta(days=3, minutes=1))
    sender = FakeEmail(lambda: [SendResult("sg-1", "accepted")])
    pacer = SendPacer(worker_settings, rate=None, name="test")
    deliver(factory, worker_settings, pacer, EmailChannel(sender, worker_settings), [comm.id])
    assert sender.batches == []
    assert row(factory, comm.id).status == "blocked"


def test_a_cancelled_sms_is_never_sent_and_a_claimed_one_cannot_be_cancelled(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock
) -> None:
    user_id, client = people(factory)
    first = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(minutes=5)
    )
    second = schedule_sms(
        factory, worker_settings, user_id, client, clock.now() + timedelta(minutes=5)
    )
    with factory() as session:
        assert cancel_message(session, first, Sender(user_id)).status == "cancelled"
        session.commit()
    clock.advance(timedelta(minutes=6))
    sender = FakeSms(accepted("SM" + "b" * 32))
    sms_deliver(factory, worker_settings, sender, first)
    assert sender.sent == [] and row(factory, first).status == "cancelled"
    assert actions(factory, "communication_id", first) == [
        "SMS_QUEUED",
        "COMMUNICATION_CANCELLED",
    ]

    sms_deliver(factory, worker_settings, sender, second)
    assert row(factory, second).status == "sent"
    with factory() as session, pytest.raises(NotCancellable) as refused:
        cancel_message(session, second, Sender(user_id))
    assert refused.value.status_code == 409 and refused.value.code == "not_cancellable"


def campaign_at(factory: sessionmaker[Session], client: Client, user_id: str, at: Any) -> str:
    with factory() as session:
        campaign = campaigns.start_campaign(
            session,
            channel="sms",
            selection={"client_ids": [client.id]},
            body=BODY,
            user_id=user_id,
            send_at=at,
        )
        session.commit()
        return campaign.id


def messages_of(factory: sessionmaker[Session], campaign_id: str) -> list[Communication]:
    with factory() as session:
        stmt = select(Communication).where(Communication.campaign_id == campaign_id)
        return list(session.scalars(stmt))


def test_a_scheduled_campaign_fans_out_only_at_its_time(
    factory: sessionmaker[Session],
    worker_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    user_id, client = people(factory)
    campaign_id = campaign_at(factory, client, user_id, clock.now() + timedelta(hours=1))
    clock.advance(timedelta(minutes=30))
    fan_out(factory, worker_settings, campaign_id)  # a job run early does nothing
    sweeper.sweep(JobContext(worker_settings, factory))
    assert messages_of(factory, campaign_id) == []
    assert ("comms.fan_out_campaign", (campaign_id,)) not in swept
    with factory() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "scheduled"

    clock.advance(timedelta(minutes=31))
    fan_out(factory, worker_settings, campaign_id)
    assert [m.status for m in messages_of(factory, campaign_id)] == ["queued"]


def test_a_scheduled_campaign_cancelled_before_it_starts_sends_nothing(
    factory: sessionmaker[Session],
    worker_settings: Settings,
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
) -> None:
    user_id, client = people(factory)
    campaign_id = campaign_at(factory, client, user_id, clock.now() + timedelta(hours=1))
    with factory() as session:
        cancelled = campaigns.cancel_campaign(
            session, campaign_id, user_id=user_id, origin=RequestOrigin()
        )
        assert cancelled.status == "cancelled"
        session.commit()
    clock.advance(timedelta(hours=2))
    fan_out(factory, worker_settings, campaign_id)  # its job, at its time
    sweeper.sweep(JobContext(worker_settings, factory))
    assert messages_of(factory, campaign_id) == []
    assert ("comms.fan_out_campaign", (campaign_id,)) not in swept
    assert actions(factory, "campaign_id", campaign_id) == [
        "CAMPAIGN_CREATED",
        "CAMPAIGN_CANCELLED",
    ]

    started = campaign_at(factory, client, user_id, None)
    fan_out(factory, worker_settings, started)
    with factory() as session, pytest.raises(NotCancellable):
        campaigns.cancel_campaign(session, started, user_id=user_id, origin=RequestOrigin())


def test_a_recipient_archived_before_the_campaign_goes_gets_a_blocked_row_saying_so(
    factory: sessionmaker[Session], worker_settings: Settings, clock: Clock
) -> None:
    """Every recipient the campaign counts has a row: one archived since it was created is
    blocked with the reason, not left out of the counts without a word."""
    user_id, client = people(factory)
    campaign_id = campaign_at(factory, client, user_id, clock.now() + timedelta(hours=1))
    with factory() as session:
        stored = session.get(Client, client.id)
        assert stored is not None
        stored.deleted_at = clock.now()
        session.commit()
    clock.advance(timedelta(hours=1, minutes=1))
    fan_out(factory, worker_settings, campaign_id)
    [message] = messages_of(factory, campaign_id)
    assert (message.client_id, message.status) == (client.id, "blocked")
    assert "archived" in (message.status_reason or "")
