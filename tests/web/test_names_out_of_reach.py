"""Clients' names on the pages, without a browser: a clinician sees the names of their care team
only. An appointment left on their calendar, a message they sent, a campaign of theirs, with a
client they may no longer reach (taken off the care team, their break-glass grant over) shows
fixed words in place of the name, on the Calendar, the event's link page, Today and the
campaign's page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.clients.access_models import BreakGlassGrant, CareTeamMember
from proirp.clients.models import Client
from proirp.comms.models import Campaign, Communication
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff

LAST_NAME = "Thistlewood"
OUTSIDE = "client outside your care team"  # "A client", or "a client" in a sentence


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


@pytest.fixture
def client(db: Session, alice: Staff) -> Client:
    """A client of Alice's care team, with an appointment on her calendar starting now."""
    client = create_client(db, first_name="Marlowe", last_name=LAST_NAME)
    integration = CalendarIntegration(user_id=alice.user.id, provider="google", status="active")
    db.add_all([integration, CareTeamMember(client_id=client.id, user_id=alice.user.id)])
    db.flush()
    start = utcnow()
    event = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id="ev-names",
        title="Session",
        start_at=start,
        end_at=start + timedelta(minutes=50),
    )
    db.add(event)
    db.flush()
    db.add(
        ClientCalendarEvent(
            client_id=client.id,
            user_id=alice.user.id,
            integration_id=integration.id,
            synced_event_id=event.id,
            provider="google",
            provider_event_id=event.provider_event_id,
            start_at=event.start_at,
            end_at=event.end_at,
        )
    )
    db.flush()
    return client


def _event_id(db: Session, client: Client) -> str:
    link = db.query(ClientCalendarEvent).filter_by(client_id=client.id).one()
    assert link.synced_event_id is not None
    return link.synced_event_id


def _off_the_team(db: Session, client: Client) -> None:
    db.execute(delete(CareTeamMember).where(CareTeamMember.client_id == client.id))
    db.flush()


def _get(api: TestClient, who: Staff, path: str) -> str:
    api.cookies.clear()
    api.cookies.set("proirp_session", who.token)
    answer = api.get(path, follow_redirects=False)
    api.cookies.clear()
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def _pages(db: Session, client: Client) -> list[str]:
    """This week's Calendar, the event's link page and Today: each shows the appointment."""
    return ["/app/calendar", f"/app/calendar/events/{_event_id(db, client)}/link", "/app/"]


def _names_shown(api: TestClient, who: Staff, path: str) -> bool:
    return LAST_NAME in _get(api, who, path)


def test_a_clinician_on_the_care_team_sees_the_name(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    """The control: the pages name the client, so their not naming one below is the rule's."""
    for path in _pages(db, client):
        assert _names_shown(api, alice, path), path


def test_off_the_care_team_the_pages_do_not_name_the_client(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    _off_the_team(db, client)
    for path in _pages(db, client):
        text = _get(api, alice, path)
        assert LAST_NAME not in text and "Marlowe" not in text, path
        assert OUTSIDE in text, path


def test_a_grant_that_has_ended_names_nobody(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    _off_the_team(db, client)
    db.add(
        BreakGlassGrant(
            user_id=alice.user.id,
            client_id=client.id,
            reason="Covering the on-call phone tonight",
            expires_at=utcnow() - timedelta(minutes=1),
        )
    )
    db.flush()
    for path in _pages(db, client):
        assert not _names_shown(api, alice, path), path


def test_the_front_desk_and_admins_see_every_name(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    """Their own Today page names a client of nobody's care team."""
    _off_the_team(db, client)
    for role in ("staff", "admin"):
        someone = create_staff(db, role=role)
        db.query(ClientCalendarEvent).filter_by(client_id=client.id).update(
            {"user_id": someone.user.id}
        )
        db.flush()
        assert _names_shown(api, someone, "/app/"), role


def _campaign_with_a_failure(db: Session, alice: Staff, client: Client) -> Campaign:
    campaign = Campaign(
        name="Office closed Friday",
        channel="sms",
        created_by_user_id=alice.user.id,
        body="Our office is closed on Friday.",
        selection={"client_ids": [client.id], "care_team_of": alice.user.id},
        total=1,
        status="finished",
    )
    db.add(campaign)
    db.flush()
    db.add(
        Communication(
            client_id=client.id,
            user_id=alice.user.id,
            campaign_id=campaign.id,
            channel="sms",
            to_address="+12025550177",
            body="Our office is closed on Friday.",
            provider="twilio",
            status="failed",
            created_at=utcnow() - timedelta(minutes=5),
        )
    )
    db.flush()
    return campaign


def test_a_campaign_names_only_the_care_team(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    campaign = _campaign_with_a_failure(db, alice, client)
    path = f"/app/campaigns/{campaign.id}"
    assert _names_shown(api, alice, path)
    _off_the_team(db, client)
    text = _get(api, alice, path)
    assert LAST_NAME not in text and OUTSIDE in text


def test_today_s_failed_message_names_only_the_care_team(
    api: TestClient, db: Session, alice: Staff, client: Client
) -> None:
    _campaign_with_a_failure(db, alice, client)
    db.query(ClientCalendarEvent).filter_by(client_id=client.id).update(
        {
            "start_at": datetime(2030, 1, 1, tzinfo=UTC),
            "end_at": datetime(2030, 1, 1, 1, tzinfo=UTC),
        }
    )
    db.flush()
    assert _names_shown(api, alice, "/app/")
    _off_the_team(db, client)
    text = _get(api, alice, "/app/")
    assert LAST_NAME not in text and OUTSIDE in text
