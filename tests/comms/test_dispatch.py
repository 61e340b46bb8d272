"""Dispatch in-process, with senders that misbehave on purpose: each through the Protocol, so
nothing is patched and every path of the one dispatch discipline is driven directly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.clients.models import Channel
from proirp.clients.repository import opted_out_addresses
from proirp.comms.core.dispatch import BACKOFF_BASE_SECONDS, deliver
from proirp.comms.core.pacing import SendPacer
from proirp.comms.email.dispatch import EmailChannel
from proirp.comms.models import Campaign, Communication, CommunicationEvent
from proirp.comms.sms.dispatch import SmsChannel, reconcile
from proirp.config import Settings
from proirp.integrations.base import (
    EmailBatch,
    MediaContent,
    ProviderAmbiguousError,
    ProviderMessage,
    ProviderPermanentError,
    ProviderTemporaryError,
    SendResult,
)
from proirp.kit.time import utcnow
from tests.comms.rows import message_row, own_database
from tests.conftest import make_settings

TO = "+12025550143"
BODY = "Please call our office."


class FakeSms:
    """An SmsSender whose every answer the test decides."""

    from_number = "+15005550006"

    def __init__(self, *answers: Callable[[], SendResult]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str]] = []
        self.at_twilio: list[ProviderMessage] = []
        self.media: dict[str, MediaContent] = {}

    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        self.sent.append((to, body))
        return self.answers.pop(0)()

    def fetch(self, provider_message_id: str) -> ProviderMessage:
        return next(m for m in self.at_twilio if m.provider_message_id == provider_message_id)

    def find_sent(self, to: str, *, since: datetime) -> list[ProviderMessage]:
        return [m for m in self.at_twilio if m.to == to]

    def fetch_media(self, media_url: str) -> MediaContent:
        if media_url not in self.media:
            raise ProviderPermanentError("twilio", "20404", "Twilio has no such media file.")
        return self.media[media_url]


class FakeEmail:
    def __init__(self, *answers: Callable[[], list[SendResult]]) -> None:
        self.answers = list(answers)
        self.batches: list[EmailBatch] = []

    def send(self, batch: EmailBatch) -> list[SendResult]:
        self.batches.append(batch)
        return self.answers.pop(0)()


def accepted(sid: str) -> Callable[[], SendResult]:
    return lambda: SendResult(sid, "queued")


def raises(exc: Exception) -> Callable[[], SendResult]:
    def answer() -> SendResult:
        raise exc

    return answer


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("dispatch")) as factory:
        yield factory


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, send_max_attempts=3, reconcile_after_seconds=30)


@pytest.fixture
def pacer(settings: Settings) -> SendPacer:
    # Its own name: with QUEUE_BACKEND=redis a hold one test sets would outlive it.
    return SendPacer(settings, rate=None, name=f"test-{uuid.uuid4().hex[:8]}")


def queued(factory: sessionmaker[Session], channel: str = "sms") -> str:
    return message_row(factory, channel=channel).id


def row(factory: sessionmaker[Session], comm_id: str) -> Communication:
    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        return comm


def reasons(factory: sessionmaker[Session], comm_id: str) -> list[str | None]:
    with factory() as session:
        stmt = (
            select(CommunicationEvent.reason)
            .where(CommunicationEvent.communication_id == comm_id)
            .order_by(CommunicationEvent.created_at, CommunicationEvent.id)
        )
        return list(session.scalars(stmt))


def actions(factory: sessionmaker[Session], comm_id: str) -> list[str]:
    with factory() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [r.action for r in rows if (r.details or {}).get("communication_id") == comm_id]


def test_a_timeout_leaves_the_message_sending_and_reconciliation_finds_it_at_twilio(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    sender = FakeSms(raises(ProviderAmbiguousError("twilio", None, "no answer from Twilio")))
    outcome = deliver(factory, settings, pacer, SmsChannel(sender, settings), [comm_id])
    assert outcome.reconcile == [comm_id] and outcome.reconcile_in == 30
    assert outcome.retries == []
    assert row(factory, comm_id).status == "sending"
    assert "no answer from Twilio" in reasons(factory, comm_id)

    # Twilio had accepted it after all: reconciliation records it and nothing is sent again.
    sender.at_twilio.append(ProviderMessage("SM" + "1" * 32, TO, BODY, "delivered", utcnow(), None))
    assert reconcile(factory, sender, comm_id) is False
    comm = row(factory, comm_id)
    assert (comm.status, comm.provider_message_id) == ("delivered", "SM" + "1" * 32)
    assert len(sender.sent) == 1
    assert actions(factory, comm_id) == ["SMS_RECONCILED"]


def test_a_timeout_that_twilio_never_saw_is_sent_once_more(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    sender = FakeSms(raises(ProviderAmbiguousError("twilio", None, "no answer")), accepted("SMx"))
    channel = SmsChannel(sender, settings)
    deliver(factory, settings, pacer, channel, [comm_id])
    assert reconcile(factory, sender, comm_id) is True  # not at Twilio: send again
    assert row(factory, comm_id).status == "queued"
    deliver(factory, settings, pacer, channel, [comm_id])
    comm = row(factory, comm_id)
    assert (comm.status, comm.provider_message_id, comm.attempts) == ("sent", "SMx", 2)
    assert len(sender.sent) == 2


def test_a_refusal_fails_the_message_for_good_with_twilios_code(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    refusal = ProviderPermanentError("twilio", "21211", "The 'To' number is not valid.")
    sender = FakeSms(raises(refusal))
    outcome = deliver(factory, settings, pacer, SmsChannel(sender, settings), [comm_id])
    assert outcome.retries == [] and outcome.reconcile == []
    comm = row(factory, comm_id)
    assert (comm.status, comm.error_code) == ("failed", "21211")
    assert comm.status_reason == "The 'To' number is not valid."
    assert actions(factory, comm_id) == ["SMS_FAILED"]


def test_twilios_unsubscribed_recipient_refusal_records_the_opt_out(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    """21610: the number replied STOP to this sender, perhaps before the practice used the
    product. It is recorded as opted out, as a STOP the product received is, so no later
    message is tried (each would fail the same way) and the client's record says so."""
    comm_id, later_id = queued(factory), queued(factory)
    number = "+12025550188"  # its own number: an opt-out would block the module's others
    with factory() as session:
        for row_id in (comm_id, later_id):
            stored = session.get(Communication, row_id)
            assert stored is not None
            stored.to_address = number
        session.commit()
    refusal = ProviderPermanentError("twilio", "21610", "The recipient replied STOP.")
    deliver(factory, settings, pacer, SmsChannel(FakeSms(raises(refusal)), settings), [comm_id])
    assert row(factory, comm_id).status == "failed"
    with factory() as session:
        assert opted_out_addresses(session, Channel.SMS, [number]) == {number}
    assert row(factory, later_id).status == "blocked"
    # Another refusal changes nothing more.
    other = ProviderPermanentError("twilio", "21211", "The number is not valid.")
    other_id = queued(factory)
    deliver(factory, settings, pacer, SmsChannel(FakeSms(raises(other)), settings), [other_id])
    with factory() as session:
        assert opted_out_addresses(session, Channel.SMS, ["+12025550143"]) == set()


def test_a_429_waits_at_least_the_providers_retry_after(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    slow_down = ProviderTemporaryError("twilio", "20429", "slow down", retry_after=120)
    sender = FakeSms(raises(slow_down))
    channel = SmsChannel(sender, settings)
    before = utcnow()
    outcome = deliver(factory, settings, pacer, channel, [comm_id])
    [(ids, delay)] = outcome.retries
    assert ids == [comm_id] and delay >= 120
    comm = row(factory, comm_id)
    assert comm.status == "queued" and comm.error_code is None
    assert comm.next_attempt_at is not None
    assert comm.next_attempt_at.replace(tzinfo=before.tzinfo) >= before + timedelta(seconds=120)
    # A job that runs early finds nothing due and calls nobody.
    deliver(factory, settings, pacer, channel, [comm_id])
    assert len(sender.sent) == 1


def test_after_a_retry_after_no_other_message_goes_before_it_allows(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    first, second = queued(factory), queued(factory)
    slow_down = ProviderTemporaryError("twilio", "20429", "slow down", retry_after=1)
    went: list[float] = []

    def answer(result: Callable[[], SendResult]) -> Callable[[], SendResult]:
        def timed() -> SendResult:
            went.append(time.monotonic())
            return result()

        return timed

    sender = FakeSms(answer(raises(slow_down)), answer(accepted("SMsecond")))
    channel = SmsChannel(sender, settings)
    deliver(factory, settings, pacer, channel, [first])
    deliver(factory, settings, pacer, channel, [second])
    assert went[1] - went[0] >= 1.0  # the whole sender waited, not only the first message
    assert row(factory, second).status == "sent"


def test_while_the_sender_is_held_a_job_leaves_its_messages_queued_for_later(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    """A job that comes during a long hold gives its worker thread back (other jobs, other
    channels, need it) instead of waiting the hold out, and spends no attempt."""
    comm_id = queued(factory)
    sender = FakeSms(accepted("SMlater"))
    channel = SmsChannel(sender, settings)
    pacer.hold(channel.pace_key, 20)
    outcome = deliver(factory, settings, pacer, channel, [comm_id])
    [(ids, delay)] = outcome.retries
    assert ids == [comm_id] and 19 <= delay <= 20
    assert sender.sent == []
    comm = row(factory, comm_id)
    assert (comm.status, comm.attempts) == ("queued", 0)


def test_a_5xx_is_retried_with_backoff_then_given_up(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    outage = ProviderTemporaryError("twilio", "20500", "Twilio had a problem on its side.")
    sender = FakeSms(*[raises(outage)] * 3)
    channel = SmsChannel(sender, settings)
    for attempt in range(1, 4):
        outcome = deliver(factory, settings, pacer, channel, [comm_id])
        if attempt < 3:
            [(_ids, delay)] = outcome.retries
            assert delay > 0
            with factory() as session:  # due now: the test plays the clock
                comm = session.get(Communication, comm_id)
                assert comm is not None
                comm.next_attempt_at = None
                session.commit()
    assert outcome.retries == []
    comm = row(factory, comm_id)
    assert (comm.status, comm.error_code, comm.attempts) == ("failed", "20500", 3)
    assert comm.status_reason is not None and "Gave up after 3 attempts" in comm.status_reason
    assert len(sender.sent) == 3


def test_an_answer_after_the_claim_expired_is_kept_and_the_message_is_not_sent_twice(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    comm_id = queued(factory)
    sender = FakeSms()
    resend: list[bool] = []

    def late_answer() -> SendResult:
        # While the call hangs, the claim goes stale and the sweeper reconciles the row: Twilio
        # does not list the message yet, so the row goes back to the queue for a resend.
        with factory() as session:
            comm = session.get(Communication, comm_id)
            assert comm is not None
            assert comm.claimed_at is not None
            comm.claimed_at = comm.claimed_at - timedelta(minutes=10)
            session.commit()
        resend.append(reconcile(factory, sender, comm_id))
        return SendResult("SMlate", "queued")

    sender.answers.append(late_answer)
    channel = SmsChannel(sender, settings)
    deliver(factory, settings, pacer, channel, [comm_id])
    assert resend == [True]
    comm = row(factory, comm_id)
    assert (comm.status, comm.provider_message_id) == ("sent", "SMlate")
    deliver(factory, settings, pacer, channel, [comm_id])  # the resend job finds nothing to do
    assert len(sender.sent) == 1
    assert row(factory, comm_id).status == "sent"


def test_email_goes_through_the_same_discipline(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    first, second = queued(factory, "email"), queued(factory, "email")
    slow_down = ProviderTemporaryError("sendgrid", "429", "slow down", retry_after=1)
    sender = FakeEmail(raises(slow_down), lambda: [SendResult("sg-batch", "accepted")])  # type: ignore[arg-type]
    channel = EmailChannel(sender, settings)
    outcome = deliver(factory, settings, pacer, channel, [first])
    [(ids, delay)] = outcome.retries
    assert ids == [first] and delay >= 1
    started = time.monotonic()
    deliver(factory, settings, pacer, channel, [second])
    assert time.monotonic() - started >= 0.9  # SendGrid's Retry-After held the next call too
    comm = row(factory, second)
    assert (comm.status, comm.provider_message_id) == ("sent", "sg-batch")
    assert [len(b.recipients) for b in sender.batches] == [1, 1]
    assert actions(factory, second) == ["EMAIL_SENT"]


class HeldJustAfterItsSlot(SendPacer):
    """A pacer whose sender another thread's call holds (a Retry-After) the moment this call
    first has its slot, while this one records its call as begun."""

    hold_seconds = 0.6
    held = False

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> bool:
        probe = super().wait_for_slot(sender_key, poll=poll)
        if not self.held:
            self.held = True
            self.hold(sender_key, self.hold_seconds)
        return probe


def test_a_hold_given_after_a_call_had_its_slot_is_waited_out_before_the_call(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    comm_id = queued(factory, "email")
    called: list[float] = []

    def answer() -> list[SendResult]:
        called.append(time.monotonic())
        return [SendResult("sg-after-hold", "accepted")]

    pacer = HeldJustAfterItsSlot(settings, rate=None, name=f"test-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    deliver(factory, settings, pacer, EmailChannel(FakeEmail(answer), settings), [comm_id])
    assert called and called[0] - started >= pacer.hold_seconds - 0.05
    assert row(factory, comm_id).status == "sent"


class HoldsUnreachable(SendPacer):
    """A pacer whose holds cannot be read once the job has begun (Redis restarting)."""

    looks = 0

    def held_for(self, sender_key: str) -> float:
        self.looks += 1
        if self.looks > 1:
            raise ConnectionError("the holds cannot be read")
        return 0.0


def test_a_call_whose_hold_cannot_be_read_is_not_recorded_as_begun(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """The last look at the hold comes before the call is recorded as begun: if it fails, the
    rows' call never began, and the sweeper sends them again (never `unknown`)."""
    comm_id = queued(factory, "email")
    sender = FakeEmail(lambda: [SendResult("sg-never", "accepted")])
    pacer = HoldsUnreachable(settings, rate=None, name=f"test-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConnectionError):
        deliver(factory, settings, pacer, EmailChannel(sender, settings), [comm_id])
    comm = row(factory, comm_id)
    assert (comm.status, comm.call_started_at) == ("sending", None)
    assert sender.batches == []


def _campaign_rows(factory: sessionmaker[Session], count: int) -> list[str]:
    """`count` queued emails of one campaign, to as many addresses: one call's worth."""
    with factory() as session:
        user = User(
            email=f"u{uuid.uuid4().hex}@clinic.example.com", role="staff", password_hash="x"
        )
        session.add(user)
        session.flush()
        campaign = Campaign(
            name=f"Office hours {uuid.uuid4().hex}",
            channel="email",
            created_by_user_id=user.id,
            subject="Office hours",
            body="Our office hours change next week.",
        )
        session.add(campaign)
        session.flush()
        rows = [
            Communication(
                user_id=user.id,
                campaign_id=campaign.id,
                channel="email",
                to_address=f"client{i}@example.com",
                subject="Office hours",
                body="Our office hours change next week.",
                substitutions="{}",
                provider="sendgrid",
                status="queued",
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def test_calls_that_fail_together_come_back_at_different_times(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer
) -> None:
    """A call's retry is drawn once for the call (its rows share their attempts): the latest of
    its rows' own draws was always about the ceiling, so calls that failed together (a
    campaign's batches in an outage) all came back together, and met the next answer together."""
    outage = ProviderTemporaryError("sendgrid", "503", "SendGrid is unavailable.")
    delays = []
    for _ in range(10):
        ids = _campaign_rows(factory, 40)
        sender = FakeEmail(raises(outage))  # type: ignore[arg-type]
        outcome = deliver(factory, settings, pacer, EmailChannel(sender, settings), ids)
        [(retried, delay)] = outcome.retries
        assert sorted(retried) == sorted(ids) and [len(b.recipients) for b in sender.batches] == [
            40
        ]
        delays.append(delay)
    # Each draw is uniform between half the ceiling and the ceiling: ten of them all in its top
    # fifth would happen once in ten million.
    assert all(BACKOFF_BASE_SECONDS / 2 <= d <= BACKOFF_BASE_SECONDS for d in delays), delays
    assert min(delays) < 0.9 * BACKOFF_BASE_SECONDS, delays
