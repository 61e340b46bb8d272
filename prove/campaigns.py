"""What the fault areas share: clients with distinctive details (each recorded for the secrets
area), a campaign started through the API, waiting until every message has settled, and what the
providers' ledgers (the sandbox's record of what really went) say of lost and twice-sent ones."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from tests.live import LiveStack

from proirp.clients.models import Client
from proirp.comms.models import Communication, CommunicationStatus
from prove.run import Run

S = CommunicationStatus
# A message still in one of these has not settled: its worker or its reconciliation is not done.
UNSETTLED = (S.QUEUED, S.SENDING)
# Statuses that say the provider took the message.
TAKEN = (S.SENT, S.DELIVERED, S.UNDELIVERED)
SMS_BODY = "Lakeside is closed Monday. Quennevilleprove reminder, reply STOP to opt out."
EMAIL_SUBJECT = "Quennevilleprove: the office is closed Monday"
EMAIL_TEXT = "Our office is closed on Monday. Please call us to reschedule. Quennevilleprove."


@dataclass(frozen=True)
class Recipients:
    """Clients of one campaign: their ids and where the messages go (phone or email)."""

    client_ids: list[str]
    addresses: list[str]


def add_clients(
    run: Run, live: LiveStack, *, tag: str, count: int, sms: bool, exchange: int = 556
) -> Recipients:
    """`count` (at most 10,000) consenting clients, each with a distinct phone number (SMS, in
    Chicago's `exchange`) or address (email); `tag`, a word distinct per area, is in their names
    and addresses."""
    first = f"Maribel{tag.capitalize()}prove"
    with live.session() as session:
        clients = []
        for i in range(count):
            contact = (
                {"phone": f"+1312{exchange}{i:04d}"}
                if sms
                else {"email": f"{tag}{i}@quennevilleprove.example.com"}
            )
            clients.append(
                Client(
                    first_name=first,
                    last_name=f"Quenneville{tag}{i}",
                    timezone="America/Chicago",
                    sms_consent=sms,
                    email_consent=not sms,
                    **contact,
                )
            )
        session.add_all(clients)
        session.commit()
        recipients = Recipients(
            [c.id for c in clients], [(c.phone if sms else c.email) or "" for c in clients]
        )
    run.used.add("client name", first, *(f"Quenneville{tag}{i}" for i in range(count)))
    run.used.add("phone number" if sms else "email address", *recipients.addresses)
    return recipients


def start_campaign(run: Run, live: LiveStack, recipients: Recipients, *, sms: bool) -> str:
    """POST /comms/bulk as the admin; the campaign's id."""
    if sms:
        body = {"type": "sms", "client_ids": recipients.client_ids, "body": SMS_BODY}
        run.used.add("message body", SMS_BODY)
    else:
        body = {
            "type": "email",
            "client_ids": recipients.client_ids,
            "subject": EMAIL_SUBJECT,
            "body": EMAIL_TEXT,
        }
        run.used.add("message body", EMAIL_SUBJECT, EMAIL_TEXT)
    with live.api() as api:
        response = api.post("/comms/bulk", json=body)
    response.raise_for_status()
    campaign_id: str = response.json()["campaign"]["id"]
    return campaign_id


def statuses(live: LiveStack, campaign_ids: list[str]) -> Counter[str]:
    """How many of these campaigns' messages are in each status."""
    with live.session() as session:
        rows = session.execute(
            select(Communication.status, func.count())
            .where(Communication.campaign_id.in_(campaign_ids))
            .group_by(Communication.status)
        ).all()
    return Counter({str(status): int(count) for status, count in rows})


def wait_settled(
    live: LiveStack, campaign_ids: list[str], *, total: int, timeout: float
) -> tuple[bool, Counter[str]]:
    """Wait until every message of these campaigns exists and none is queued or sending:
    (settled in time, the statuses then)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = statuses(live, campaign_ids)
        settled = sum(counts.values()) >= total and not any(counts[s] for s in UNSETTLED)
        if settled or time.monotonic() > deadline:
            return settled, counts
        time.sleep(1.0)


@dataclass(frozen=True)
class Ledgered:
    """What the provider's ledger says of a campaign's recipients."""

    lost: int  # never reached the provider
    twice: int  # copies beyond the first


def ledgered(ledger: list[dict[str, Any]], recipients: Recipients) -> Ledgered:
    """What a provider's ledger (`live.ledger()` for Twilio, `live.email_ledger()` for SendGrid)
    says of these recipients: each address must appear exactly once."""
    wanted = set(recipients.addresses)
    seen = Counter(m["to"] for m in ledger if m["to"] in wanted)
    return Ledgered(lost=len(wanted - set(seen)), twice=sum(n - 1 for n in seen.values()))
