"""Email in the one dispatch discipline (`core.dispatch`): claimed rows grouped into SendGrid
calls of up to 1,000 recipients, and the settling of rows whose call got no answer.

SendGrid has no way to look a message up by our reference, so a call that got no answer is not
resent: its rows wait for events (our id travels in `custom_args`), and any that hear nothing
become `unknown` for a person to check. Each call is recorded as begun before it is made, so rows
whose call never began (a worker killed first) are sent again by the sweeper instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.comms.core.dispatch import Call
from proirp.comms.core.guard import BlockReason, blocks_at_send
from proirp.comms.core.sending import audit_worker
from proirp.comms.core.status import add_event
from proirp.comms.email.content import SharedContent, shared_content, with_footer
from proirp.comms.email.unsubscribe import URL_PLACEHOLDER, one_click_headers, unsubscribe_url
from proirp.comms.models import Campaign, Communication, CommunicationStatus, Template
from proirp.comms.templates.rendering import nest
from proirp.config import Settings
from proirp.integrations.base import EmailBatch, EmailRecipient
from proirp.integrations.messaging import EmailSender
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS, SECONDS_PER_RECIPIENT
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus


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


def _call_for(session: Session, settings: Settings, group: list[Communication]) -> Call:
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
    return Call([c.id for c in group], {c.id: c.attempts for c in group}, batch)


class EmailChannel:
    """Email's steps in dispatch: rows that share content go out together, ≤ 1,000 a call."""

    name = "email"
    provider = "SendGrid"
    sent_action = AuditAction.EMAIL_SENT
    failed_action = AuditAction.EMAIL_FAILED
    blocked_action = AuditAction.EMAIL_BLOCKED
    reads_each_text = False
    marks_call_start = True
    pace_key = "mail-send"

    def __init__(self, sender: EmailSender, settings: Settings) -> None:
        self.sender = sender
        self.settings = settings

    def refusals(self, session: Session, comms: list[Communication]) -> dict[str, BlockReason]:
        return blocks_at_send(session, comms, has_baa=self.settings.sendgrid_hipaa_enabled)

    def calls(self, session: Session, comms: list[Communication]) -> list[Call]:
        return [_call_for(session, self.settings, group) for group in _groups(comms)]

    def send(self, call: Call) -> str:
        results = self.sender.send(call.payload)
        return results[0].provider_message_id

    def refused_for_good(self, session: Session, comms: list[Communication], code: str) -> None:
        """Nothing more: SendGrid tells of bounces and unsubscribes by its events."""

    def narrowed(self, call: Call, ids: list[str]) -> Call:
        batch: EmailBatch = call.payload
        kept = set(ids)
        recipients = [r for r in batch.recipients if r.reference in kept]
        attempts = {comm_id: call.attempts[comm_id] for comm_id in ids}
        return Call(list(ids), attempts, replace(batch, recipients=recipients))


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
        lock_shared_writes(session)
        comm = session.get(Communication, comm_id, with_for_update=True)
        if comm is None or comm.status != S.SENDING:
            return
        if not call_finished:
            waited = settings.reconcile_after_seconds + call_ceiling(settings)
            began = comm.call_started_at or comm.claimed_at
            if began is None or began > utcnow() - timedelta(seconds=waited):
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
