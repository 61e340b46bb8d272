"""A campaign that finished (fanned out, none of its messages still queued or sending) with
messages failed, undelivered or blocked: its sender gets one email with the counts by status.
One finished clean, or still sending, gets none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy.orm import Session, sessionmaker

from proirp.auth.models import User
from proirp.comms.models import Campaign, Communication
from proirp.config import Settings
from proirp.kit.time import set_clock, utcnow
from tests.factories import create_client, create_user
from tests.notices.conftest import MONDAY, notice_audits, notices_sent, run_notices

BODY = "Jordan, your flu shot is ready at the Elm Street office."
_serial = count(1)


@pytest.fixture
def sender(db: Session) -> User:
    return create_user(db, role="staff", email="frontdesk@clinic.example.com")


def _campaign(
    db: Session, sender: User, statuses: Sequence[str], *, fanned_out: bool = True
) -> Campaign:
    """An SMS campaign of `sender`'s, with one message per status, each to a client of its own."""
    campaign = Campaign(
        name="Jordan Whitfield follow-up",
        channel="sms",
        created_by_user_id=sender.id,
        body=BODY,
        total=len(statuses),
        status="sending" if fanned_out else "queued",
        fanned_out_at=utcnow() if fanned_out else None,
    )
    db.add(campaign)
    db.flush()
    for status in statuses:
        phone = f"+1202555{next(_serial) % 10000:04d}"
        client = create_client(db, first_name="Jordan", last_name="Whitfield", phone=phone)
        db.add(
            Communication(
                client_id=client.id,
                user_id=sender.id,
                campaign_id=campaign.id,
                channel="sms",
                to_address=phone,
                body=BODY,
                provider="twilio",
                status=status,
            )
        )
    db.flush()
    return campaign


def test_a_campaign_finished_with_problems_tells_its_sender_once_with_the_counts(
    db: Session, factory: sessionmaker[Session], settings: Settings, sender: User
) -> None:
    statuses = ["delivered"] * 3 + ["sent", "failed", "failed", "undelivered", "blocked"]
    with set_clock(MONDAY):
        campaign = _campaign(db, sender, statuses)
        run_notices(factory, settings)
        run_notices(factory, settings)
    [note] = notices_sent(db)
    assert note.to_address == "frontdesk@clinic.example.com"
    assert note.subject == "Your SMS campaign finished: 4 messages did not arrive"
    assert note.body is not None
    assert "4 of its 8 messages did not reach their recipients" in note.body
    assert "  failed: 2\n  undelivered: 1\n  blocked: 1\n" in note.body
    assert "blocked 1, delivered 3, failed 2, sent 1, undelivered 1" in note.body
    assert f"{settings.base_url}/app/campaigns/{campaign.id}" in note.body
    for private in ("Jordan", "Whitfield", "flu shot", "Elm Street", "+1202555", "2025550"):
        assert private not in note.body and private not in (note.subject or "")
    [audit] = notice_audits(db, "campaign_problems")
    assert audit["campaign_id"] == campaign.id and audit["recipient_user_id"] == sender.id
    assert audit["counts"] == {"failed": 2, "undelivered": 1, "blocked": 1}


def test_a_campaign_finished_clean_tells_nobody(
    db: Session, factory: sessionmaker[Session], settings: Settings, sender: User
) -> None:
    with set_clock(MONDAY):
        _campaign(db, sender, ["delivered", "delivered", "sent", "cancelled"])
        run_notices(factory, settings)
    assert notices_sent(db) == []


def test_a_campaign_still_sending_waits_until_it_has_finished(
    db: Session, factory: sessionmaker[Session], settings: Settings, sender: User
) -> None:
    with set_clock(MONDAY) as clock:
        campaign = _campaign(db, sender, ["failed", "blocked", "queued", "sending"])
        not_started = _campaign(db, sender, ["failed"], fanned_out=False)
        run_notices(factory, settings)
        assert notices_sent(db) == []
        clock.advance(timedelta(minutes=1))
        for comm in db.query(Communication).filter_by(campaign_id=campaign.id):
            if comm.status in ("queued", "sending"):
                comm.status = "delivered" if comm.status == "sending" else "undelivered"
        db.flush()
        run_notices(factory, settings)
    [note] = notices_sent(db)
    assert f"/campaigns/{campaign.id}" in (note.body or "")
    assert f"/campaigns/{not_started.id}" not in (note.body or "")
    assert "3 of its 4 messages" in (note.body or "")


def test_a_campaign_from_before_the_look_back_is_left_alone(
    db: Session, factory: sessionmaker[Session], settings: Settings, sender: User
) -> None:
    with set_clock(MONDAY) as clock:
        _campaign(db, sender, ["failed"])
        clock.advance(timedelta(days=8))
        run_notices(factory, settings)
    assert notices_sent(db) == []
