"""The worker's side of sending, for every channel: claim, pace, send, classify, record.

Exactly once, or known: rows are claimed (`queued → sending`) and committed before the provider
is called. A temporary failure puts them back to `queued` with a later `next_attempt_at` (or ends
them `failed` once SEND_MAX_ATTEMPTS are spent); a refusal ends them `failed` with the provider's
code; a request that got no answer leaves them `sending` for the channel's reconciliation, which
settles them before anything is sent again.

A channel plugs in its own steps (`Channel`): how claimed rows become provider calls, and how one
call is sent. Everything else is here, once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import AuditEntry, record_audits
from proirp.comms.core import repository
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.pacing import SendPacer
from proirp.comms.core.sending import audit_worker
from proirp.comms.core.status import add_event, add_events, advance, mark_sent
from proirp.comms.models import Communication, CommunicationStatus
from proirp.config import Settings
from proirp.integrations.base import (
    ProviderAmbiguousError,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
# A job that finds its sender held longer than this comes back when the hold ends, rather than
# keep a worker thread waiting (other jobs, other channels, need it).
HOLD_REQUEUE_SECONDS = 1.0


@dataclass(frozen=True)
class Call:
    """One provider call: the rows it carries, their attempts so far, and what to send."""

    ids: list[str]
    attempts: dict[str, int]
    payload: Any


class Channel(Protocol):
    """A channel's own steps in dispatch."""

    name: str  # "sms" or "email": log event names
    provider: str  # "Twilio" or "SendGrid": the reason shown when no answer came
    sent_action: AuditAction
    failed_action: AuditAction
    blocked_action: AuditAction
    # Whether sending reads each row's own text (SMS), or mostly what rows share (a campaign's
    # email: a row's own text is then read only where it is used).
    reads_each_text: bool
    # Whether each call is recorded as begun, in its own commit, before it is made (email: a
    # row whose call never began is sent again; a stale SMS is looked up at Twilio instead).
    marks_call_start: bool

    @property
    def pace_key(self) -> str:
        """What the provider's rate limit counts against (a sending number, the API)."""
        ...

    def refusals(self, session: Session, comms: list[Communication]) -> dict[str, BlockReason]:
        """The guard again, at send time: which claimed rows must not go, and why."""
        ...

    def calls(self, session: Session, comms: list[Communication]) -> list[Call]:
        """The provider calls that carry these claimed rows."""
        ...

    def send(self, call: Call) -> str:
        """Make the call; the provider's message id, or a ProviderError subclass."""
        ...

    def narrowed(self, call: Call, ids: list[str]) -> Call:
        """The same call for only `ids` among its rows (the others were taken back)."""
        ...

    def refused_for_good(self, session: Session, comms: list[Communication], code: str) -> None:
        """What the provider's permanent refusal (`code`) means beyond these rows' failing (an
        SMS to a number that replied STOP to the sender: an opt-out), in their transaction."""
        ...


@dataclass
class Outcome:
    """What the task does next: send some rows again later, reconcile others."""

    retries: list[tuple[list[str], float]] = field(default_factory=list)
    reconcile: list[str] = field(default_factory=list)
    reconcile_in: float = 0.0


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # jitter, not security
    return max(delay, retry_after or 0.0)


def deliver(
    factory: sessionmaker[Session],
    settings: Settings,
    pacer: SendPacer,
    channel: Channel,
    comm_ids: Sequence[str],
) -> Outcome:
    """Claim the due rows among `comm_ids`, guard them again, and send them through `channel`.

    While the provider's Retry-After holds the sender, nothing is claimed: the job comes back
    when the hold ends, and its messages spend no attempt."""
    held = pacer.held_for(channel.pace_key)
    if held > HOLD_REQUEUE_SECONDS:
        return Outcome(retries=[(list(comm_ids), held)])
    claimed_at = utcnow()
    with transaction(factory) as session:
        claimed = repository.claim_many(session, comm_ids, now=claimed_at)
        comms = repository.get_many(session, claimed, content=channel.reads_each_text)
        add_events(session, [comm.id for comm in comms], S.SENDING, source="worker")
        refused = channel.refusals(session, comms) if comms else {}
        going = [comm for comm in comms if comm.id not in refused]
        calls = channel.calls(session, going) if going else []
    if refused:
        _block(factory, channel, refused)
    outcome = Outcome(reconcile_in=float(settings.reconcile_after_seconds))
    for call in calls:
        _make_call(factory, settings, pacer, channel, call, claimed_at, outcome)
    return outcome


class _Held:
    """The sender was held again while the call waited to be recorded as begun."""


HELD = _Held()


def _make_call(
    factory: sessionmaker[Session],
    settings: Settings,
    pacer: SendPacer,
    channel: Channel,
    call: Call,
    claimed_at: datetime,
    outcome: Outcome,
) -> None:
    """Wait for a slot, record the call as begun, and make it. A Retry-After that another call
    got while this one waited for the writers' turn to record it sends it back to wait for the
    hold to end, unrecorded: no row is marked begun that is not about to go."""
    while True:
        probe = pacer.wait_for_slot(channel.pace_key)
        held_again = True  # unless the provider is known to have answered otherwise
        try:
            going_now = _start(factory, pacer, channel, call, claimed_at)
            if isinstance(going_now, _Held):
                continue
            if going_now is not None:
                held_again = _send(factory, settings, pacer, channel, going_now, outcome)
            return
        finally:
            pacer.answered(channel.pace_key, probe=probe, held_again=held_again)


def _start(
    factory: sessionmaker[Session],
    pacer: SendPacer,
    channel: Channel,
    call: Call,
    claimed_at: datetime,
) -> Call | _Held | None:
    """Record, committed, that the call begins (for a channel that marks it): what it still
    carries, None when the sweeper took every row back while it waited for its slot, or HELD
    when the sender was held meanwhile (nothing recorded)."""
    if not channel.marks_call_start:
        return call
    with transaction(factory) as session:
        lock_shared_writes(session)  # before the rows: the sweeper may be taking them back
        if pacer.held_for(channel.pace_key) > 0:
            return HELD
        started = repository.start_call(session, call.ids, claimed_at=claimed_at, now=utcnow())
    if len(started) == len(call.ids):
        return call
    log.info(f"{channel.name}.taken_back", **_which(call), going=len(started))
    if not started:
        return None
    kept = set(started)
    return channel.narrowed(call, [comm_id for comm_id in call.ids if comm_id in kept])


def _send(
    factory: sessionmaker[Session],
    settings: Settings,
    pacer: SendPacer,
    channel: Channel,
    call: Call,
    outcome: Outcome,
) -> bool:
    """Make one call and record what came of it; whether the provider gave no answer or held
    the sender again (a Retry-After)."""
    try:
        message_id = channel.send(call)
    except ProviderTemporaryError as exc:
        if exc.retry_after:
            # Before anything else: other threads and workers must not call in the meantime.
            pacer.hold(channel.pace_key, exc.retry_after)
        _retry_later(factory, settings, channel, call, exc, outcome)
        return bool(exc.retry_after)
    except ProviderPermanentError as exc:
        _fail(factory, channel, call, exc)
    except ProviderAmbiguousError:
        _await_answer(factory, channel, call)
        outcome.reconcile.extend(call.ids)
        return True
    else:
        _sent(factory, channel, call, message_id)
    return False


def _which(call: Call) -> dict[str, object]:
    """What a log line says of the messages a call carried: their number, and the id of one."""
    if len(call.ids) == 1:
        return {"communication_id": call.ids[0]}
    return {"recipients": len(call.ids)}


def _block(
    factory: sessionmaker[Session], channel: Channel, refused: dict[str, BlockReason]
) -> None:
    """Rows the guard refused at send time (an opt-out, a suppression or a withdrawn consent
    since they were queued) end `blocked`, never sent."""
    with transaction(factory) as session:
        lock_shared_writes(session)  # before the rows, as every writer here takes them
        for comm in repository.get_many(session, list(refused), content=False):
            block = refused[comm.id]
            advance(session, comm, S.BLOCKED, source="worker", reason=block.message)
            audit_worker(session, comm, channel.blocked_action, reason=block.code, at="send")
    for comm_id, block in refused.items():
        log.info(f"{channel.name}.blocked_at_send", communication_id=comm_id, reason=block.code)


def _sent(factory: sessionmaker[Session], channel: Channel, call: Call, message_id: str) -> None:
    with transaction(factory) as session:
        lock_shared_writes(session)  # before the rows: status callbacks for them may be arriving
        # A statement for each step, whatever the call's size (a campaign's is 1,000 rows).
        clients = mark_sent(session, call.ids, message_id)
        found = [comm_id for comm_id in call.ids if comm_id in clients]
        record_audits(
            session,
            [
                AuditEntry(
                    actor=None,
                    action=channel.sent_action,
                    client_id=clients[comm_id],
                    details={"communication_id": comm_id, "provider_message_id": message_id},
                )
                for comm_id in found
            ],
        )
    log.info(f"{channel.name}.sent", **_which(call), provider_message_id=message_id)


def _fail(
    factory: sessionmaker[Session], channel: Channel, call: Call, exc: ProviderPermanentError
) -> None:
    with transaction(factory) as session:
        lock_shared_writes(session)
        comms = list(repository.get_many(session, call.ids, content=False))
        for comm in comms:
            advance(
                session, comm, S.FAILED, source="worker", reason=exc.reason, error_code=exc.code
            )
            audit_worker(session, comm, channel.failed_action, error_code=exc.code)
        if exc.code:
            channel.refused_for_good(session, comms, exc.code)
    log.info(f"{channel.name}.send_failed", **_which(call), error_code=exc.code)


def _retry_or_give_up(
    session: Session,
    settings: Settings,
    comm: Communication,
    attempts: int,
    exc: ProviderTemporaryError,
    *,
    failed_action: AuditAction,
    delay: float,
) -> float | None:
    """After a temporary failure: back to `queued` for another attempt in `delay` seconds
    (returned), or `failed` once SEND_MAX_ATTEMPTS are spent (returns None)."""
    if attempts >= settings.send_max_attempts:
        reason = f"{exc.reason} Gave up after {attempts} attempts."
        advance(session, comm, S.FAILED, source="worker", reason=reason, error_code=exc.code)
        audit_worker(session, comm, failed_action, error_code=exc.code, attempts=attempts)
        return None
    comm.status = S.QUEUED
    comm.next_attempt_at = utcnow() + timedelta(seconds=delay)
    comm.updated_at = utcnow()
    add_event(session, comm, S.QUEUED, source="worker", reason=exc.reason, error_code=exc.code)
    return delay


def _retry_later(
    factory: sessionmaker[Session],
    settings: Settings,
    channel: Channel,
    call: Call,
    exc: ProviderTemporaryError,
    outcome: Outcome,
) -> None:
    delays: dict[float, list[str]] = defaultdict(list)
    # One draw of the backoff for the call (for each count of attempts among its rows): the
    # latest of every row's own draw is always about the ceiling, so calls that failed together
    # (a campaign's batches in an outage) would all come back together.
    drawn = {n: backoff_seconds(n, exc.retry_after) for n in set(call.attempts.values())}
    with transaction(factory) as session:
        lock_shared_writes(session)
        for comm in repository.get_many(session, call.ids, content=False):
            attempts = call.attempts[comm.id]
            delay = _retry_or_give_up(
                session,
                settings,
                comm,
                attempts,
                exc,
                failed_action=channel.failed_action,
                delay=drawn[attempts],
            )
            if delay is not None:
                delays[delay].append(comm.id)
    # One retry for the whole call, once the last of its rows is due again.
    ids = [i for group in delays.values() for i in group]
    if ids:
        outcome.retries.append((ids, max(delays)))
        log.info(
            f"{channel.name}.send_retry",
            **_which(Call(ids, {}, None)),
            error_code=exc.code,
            delay=round(max(delays), 2),
        )
    else:
        log.info(f"{channel.name}.send_failed", **_which(call), error_code=exc.code)


def _await_answer(factory: sessionmaker[Session], channel: Channel, call: Call) -> None:
    with transaction(factory) as session:
        for comm in repository.get_many(session, call.ids, content=False):
            reason = f"no answer from {channel.provider}"
            add_event(session, comm, S.SENDING, source="worker", reason=reason)
    log.warning(f"{channel.name}.send_ambiguous", **_which(call))
