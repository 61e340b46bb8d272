"""An appointment on a clinician's own calendar with a client they may no longer reach (taken off
the care team, or their break-glass grant over): the event stays theirs, but unlinking the
client or moving the event, which changes the client's reminders, is refused as a client out of
reach is (422 naming `client_id`), through the API and the pages alike. An open grant still
reaches the client, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.secrets import csrf_for
from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.clients.access_models import BreakGlassGrant, CareTeamMember
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff

START = datetime(2030, 1, 15, 15, 0, tzinfo=UTC)
MOVE = {"start": "2030-01-16T15:00:00Z", "end": "2030-01-16T16:00:00Z"}
MOVE_FORM = {"date": "2030-01-16", "start": "09:00", "end": "10:00"}


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


@pytest.fixture
def appointment(db: Session, alice: Staff) -> ClientCalendarEvent:
    """An event on Alice's calendar linked to a client of her care team."""
    integration = CalendarIntegration(user_id=alice.user.id, provider="google", status="active")
    db.add(integration)
    db.flush()
    event = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id="ev-out-of-reach",
        title="Session",
        start_at=START,
        end_at=START + timedelta(hours=1),
        etag='"1"',
    )
    client = create_client(db)
    db.add_all([event, CareTeamMember(client_id=client.id, user_id=alice.user.id)])
    db.flush()
    link = ClientCalendarEvent(
        client_id=client.id,
        user_id=alice.user.id,
        integration_id=integration.id,
        synced_event_id=event.id,
        provider="google",
        provider_event_id=event.provider_event_id,
        start_at=event.start_at,
        end_at=event.end_at,
    )
    db.add(link)
    db.flush()
    return link


def _off_the_team(db: Session, link: ClientCalendarEvent) -> None:
    db.execute(delete(CareTeamMember).where(CareTeamMember.client_id == link.client_id))
    db.flush()


def _grant(db: Session, alice: Staff, link: ClientCalendarEvent, minutes: int) -> None:
    db.add(
        BreakGlassGrant(
            user_id=alice.user.id,
            client_id=link.client_id,
            reason="Covering the on-call phone tonight",
            expires_at=utcnow() + timedelta(minutes=minutes),
        )
    )
    db.flush()


def _refused(answer: Response) -> bool:
    if answer.status_code != 422:
        return False
    if answer.headers.get("content-type", "").startswith("application/json"):
        return "client_id" in (answer.json()["error"].get("fields") or {})
    return "client_id" in answer.text


def _page_post(api: TestClient, alice: Staff, path: str, form: dict[str, str]) -> Response:
    api.cookies.clear()
    api.cookies.set("proirp_session", alice.token)
    answer = api.post(
        path, data={**form, "csrf_token": csrf_for(alice.token)}, follow_redirects=False
    )
    api.cookies.clear()
    return answer


def _still_as_it_was(db: Session, link: ClientCalendarEvent) -> None:
    db.refresh(link)
    assert link.unlinked_at is None
    assert link.start_at is not None and link.start_at.replace(tzinfo=UTC) == START
    actions = {"APPOINTMENT_UNLINKED", "CALENDAR_EVENT_UPDATED", "APPOINTMENT_MOVED"}
    assert db.scalars(select(AuditLog).where(AuditLog.action.in_(actions))).all() == []


def test_off_the_care_team_the_client_is_neither_unlinked_nor_moved(
    api: TestClient, db: Session, alice: Staff, appointment: ClientCalendarEvent
) -> None:
    _off_the_team(db, appointment)
    event_id = appointment.synced_event_id
    unlink = api.delete(f"/calendar/events/{event_id}/link", headers=alice.headers)
    assert _refused(unlink), unlink.text
    move = api.patch(f"/calendar/events/{event_id}", json=MOVE, headers=alice.headers)
    assert _refused(move), move.text
    edit = api.patch(f"/calendar/events/{event_id}", json={"title": "x"}, headers=alice.headers)
    assert _refused(edit), edit.text
    _still_as_it_was(db, appointment)


def test_off_the_care_team_the_pages_refuse_too(
    api: TestClient, db: Session, alice: Staff, appointment: ClientCalendarEvent
) -> None:
    _off_the_team(db, appointment)
    event_id = appointment.synced_event_id
    unlink = _page_post(api, alice, f"/app/calendar/events/{event_id}/unlink", {})
    assert _refused(unlink), unlink.text[:500]
    move = _page_post(api, alice, f"/app/calendar/events/{event_id}/move", MOVE_FORM)
    assert _refused(move), move.text[:500]
    _still_as_it_was(db, appointment)


def test_a_grant_that_has_ended_reaches_nothing(
    api: TestClient, db: Session, alice: Staff, appointment: ClientCalendarEvent
) -> None:
    _off_the_team(db, appointment)
    _grant(db, alice, appointment, minutes=-1)
    unlink = api.delete(
        f"/calendar/events/{appointment.synced_event_id}/link", headers=alice.headers
    )
    assert _refused(unlink), unlink.text
    _still_as_it_was(db, appointment)


def test_an_open_grant_unlinks_and_the_access_is_audited(
    api: TestClient, db: Session, alice: Staff, appointment: ClientCalendarEvent
) -> None:
    _off_the_team(db, appointment)
    _grant(db, alice, appointment, minutes=30)
    unlink = api.delete(
        f"/calendar/events/{appointment.synced_event_id}/link", headers=alice.headers
    )
    assert unlink.status_code == 200, unlink.text
    used = db.scalars(select(AuditLog).where(AuditLog.action == "BREAK_GLASS_USED")).all()
    assert [row.client_id for row in used] == [appointment.client_id]


def test_on_the_care_team_the_client_is_unlinked(
    api: TestClient, db: Session, alice: Staff, appointment: ClientCalendarEvent
) -> None:
    """The control: the refusals above are the access rule's."""
    unlink = api.delete(
        f"/calendar/events/{appointment.synced_event_id}/link", headers=alice.headers
    )
    assert unlink.status_code == 200, unlink.text
