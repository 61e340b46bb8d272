"""The worker's side of sending email: claim a batch, build SendGrid calls, record outcomes.

The same rules as SMS (see dispatch): rows are claimed and committed before SendGrid is called;
a temporary failure re-queues them with backoff; a refusal fails them with SendGrid's code and
a plain reason. SendGrid has no way to look a message up by our reference, so a call that got
no answer is not resent: its rows wait for events (our id travels in `custom_args`), and any
that hear nothing become `unknown` for a person to check.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import lock_audit_chain
from proirp.comms import repository
from proirp.comms.dispatch import audit_worker, retry_or_give_up
from proirp.comms.email_content import SharedContent, shared_content, with_footer
from proirp.comms.models import Campaign, Communication, CommunicationStatus, Template
from proirp.comms.pacing import SendPacer
from proirp.comms.providers import email_sender
from proirp.comms.status import add_event, advance
from proirp.comms.templates import nest
from proirp.comms.unsubscribe import URL_PLACEHOLDER, one_click_headers, unsubscribe_url
from proirp.config import Settings
from proirp.integrations.base import (
    EmailBatch,
    EmailRecipient,
    ProviderAmbiguousError,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS, SECONDS_PER_RECIPIENT
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus


@dataclass
class BatchOutcome:
    """What the task does next: retry some rows later, reconcile others."""

    retries: list[tuple[list[str], float]] = field(default_factory=list)
    reconcile: list[str] = field(default_factory=list)
    reconcile_in: float = 0.0


@dataclass(frozen=True)
class _Call:
    ids: list[str]
    attempts: dict[str, int]
    batch: EmailBatch


def _groups(comms: list[Communication]) -> list[list[Communication]]:
    """Rows that can share one call: the same campaign content, each address once, ≤ 1,000."""
    by_content: dict[str, list[Communication]] = defaultdict(list)
    for comm in comms:
        shares = comm.campaign_id is not None and comm.substitutions is not None
        by_content[comm.campaign_id if shares and comm.campaign_id else comm.id].append(comm)
    groups: list[list[Communication]] = []
    for members in by_content.values():
        open_groups: list[tuple[set[str], list[Communication]]] = []
        for comm in members:
            address = comm.to_address.lower()
            for seen, group in open_groups:
                if address not in seen and len(group) < MAX_PERSONALIZATIONS:
                    seen.add(address)
                    group.append(comm)
                    break
            else:
                open_groups.append(({address}, [comm]))
        groups.extend(group for _, group in open_groups)
    return groups


def _call_for(session: Session, settings: Settings, group: list[Communication]) -> _Call:
    """One mail/send for `group`: a campaign's shared content with each recipient's values, or
    one message's own content. Bulk mail (anything from a campaign) carries its unsubscribe link
    in the one-click headers and the footer."""
    from_email = settings.sendgrid_connection().from_email
    first = group[0]
    template = session.get(Template, first.template_id) if first.template_id else None
    dynamic_id = template.sendgrid_template_id if template is not None else None
    shares = first.campaign_id is not None and first.substitutions is not None
    if shares:
        campaign = session.get(Campaign, first.campaign_id)
        assert campaign is not None
        content = shared_content(campaign, template)
    elif dynamic_id and first.substitutions:
        content = SharedContent(None, None, None, dynamic_template_id=dynamic_id)
    else:
        content = SharedContent(first.subject, first.body, first.body_html)
    bulk = first.campaign_id is not None
    if bulk:
        content = with_footer(content)
    recipients: list[EmailRecipient] = []
    for comm in group:
        url = unsubscribe_url(settings, comm.id) if bulk else None
        values = (
            json.loads(comm.substitutions or "{}") if shares or content.dynamic_template_id else {}
        )
        if content.dynamic_template_id:
            data = nest(values) | ({"unsubscribe_url": url} if url else {})
            subs: dict[str, str] = {}
        else:
            data = None
            subs = {**values, **({URL_PLACEHOLDER: url} if url else {})}
        recipients.append(
            EmailRecipient(
                to=comm.to_address,
                reference=comm.id,
                substitutions=subs,
                dynamic_template_data=data,
                headers=one_click_headers(url) if url else {},
            )
        )
    batch = EmailBatch(
        from_email=from_email,
        from_name=settings.sendgrid_from_name,
        recipients=recipients,
        subject=content.subject,
        text=content.text,
        html=content.html,
        template_id=content.dynamic_template_id,
    )
    return _Call([c.id for c in group], {c.id: c.attempts for c in group}, batch)


def deliver_email_batch(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer, comm_ids: list[str]
) -> BatchOutcome:
    now = utcnow()
    with transaction(factory) as session:
        claimed = repository.claim_many(session, comm_ids, now=now)
        comms = repository.get_many(session, claimed)
        for comm in comms:
            add_event(session, comm, S.SENDING, source="worker")
        calls = [_call_for(session, settings, group) for group in _groups(comms)]
    outcome = BatchOutcome(reconcile_in=float(settings.reconcile_after_seconds))
    sender = email_sender(settings)
    for call in calls:
        pacer.wait_for_slot("mail-send")
        try:
            results = sender.send(call.batch)
        except ProviderTemporaryError as exc:
            _retry_later(factory, settings, call, exc, outcome)
            continue
        except ProviderPermanentError as exc:
            _fail(factory, call, exc)
            continue
        except ProviderAmbiguousError:
            _await_events(factory, call)
            outcome.reconcile.extend(call.ids)
            continue
        _sent(factory, call, results[0].provider_message_id)
    return outcome


def _sent(factory: sessionmaker[Session], call: _Call, message_id: str) -> None:
    with transaction(factory) as session:
        lock_audit_chain(session)  # before the rows: events for them may be arriving now
        for comm in repository.get_many(session, call.ids):
            comm.provider_message_id = comm.provider_message_id or message_id
            advance(session, comm, S.SENT, source="worker")
            audit_worker(session, comm, AuditAction.EMAIL_SENT, provider_message_id=message_id)
    log.info("email.sent", recipients=len(call.ids), provider_message_id=message_id)


def _fail(factory: sessionmaker[Session], call: _Call, exc: ProviderPermanentError) -> None:
    with transaction(factory) as session:
        lock_audit_chain(session)
        for comm in repository.get_many(session, call.ids):
            advance(
                session, comm, S.FAILED, source="worker", reason=exc.reason, error_code=exc.code
            )
            audit_worker(session, comm, AuditAction.EMAIL_FAILED, error_code=exc.code)
    log.info("email.send_failed", recipients=len(call.ids), error_code=exc.code)


def _retry_later(
    factory: sessionmaker[Session],
    settings: Settings,
    call: _Call,
    exc: ProviderTemporaryError,
    outcome: BatchOutcome,
) -> None:
    delays: dict[float, list[str]] = defaultdict(list)
    with transaction(factory) as session:
        lock_audit_chain(session)
        for comm in repository.get_many(session, call.ids):
            delay = retry_or_give_up(
                session,
                settings,
                comm,
                call.attempts[comm.id],
                exc,
                failed_action=AuditAction.EMAIL_FAILED,
            )
            if delay is not None:
                delays[delay].append(comm.id)
    # One retry for the whole call, once the last of its rows is due again.
    ids = [i for group in delays.values() for i in group]
    if ids:
        outcome.retries.append((ids, max(delays)))
    log.info("email.send_retry", recipients=len(ids), error_code=exc.code)


def _await_events(factory: sessionmaker[Session], call: _Call) -> None:
    with transaction(factory) as session:
        for comm in repository.get_many(session, call.ids):
            add_event(session, comm, S.SENDING, source="worker", reason="no answer from SendGrid")
    log.warning("email.send_ambiguous", recipients=len(call.ids))


def call_ceiling(settings: Settings) -> float:
    """The longest a mail/send call may wait for its answer (a full batch)."""
    return settings.send_timeout_seconds + SECONDS_PER_RECIPIENT * MAX_PERSONALIZATIONS


def reconcile_email(
    factory: sessionmaker[Session], settings: Settings, comm_id: str, *, call_finished: bool
) -> None:
    """Settle an email left `sending`: events would have moved it on if SendGrid had it.

    `call_finished` says the call is known to have ended without an answer; otherwise (the
    sweeper found the row) it may still be waiting for SendGrid, and is left alone until the
    longest call would have ended.
    """
    with transaction(factory) as session:
        lock_audit_chain(session)
        comm = session.get(Communication, comm_id, with_for_update=True)
        if comm is None or comm.status != S.SENDING:
            return
        if not call_finished:
            waited = settings.reconcile_after_seconds + call_ceiling(settings)
            if comm.claimed_at is None or comm.claimed_at > utcnow() - timedelta(seconds=waited):
                return
        comm.status = S.UNKNOWN
        comm.status_reason = (
            "SendGrid did not answer and has reported nothing since; the email may or may not "
            "have gone. It was not resent, so it cannot arrive twice."
        )
        comm.updated_at = utcnow()
        add_event(session, comm, S.UNKNOWN, source="reconcile", reason=comm.status_reason)
        audit_worker(session, comm, AuditAction.EMAIL_RECONCILED, found=False)
    log.info("email.reconciled", communication_id=comm_id, found=False)
