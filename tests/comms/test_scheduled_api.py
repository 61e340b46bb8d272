"""Scheduled sends through the API: `send_at` checked and shown, the job queued for then,
cancelling a message or a campaign, and the list of campaigns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.kit.time import Clock
from proirp.worker.queue import huey
from tests.factories import Staff, create_client, create_staff


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, phone="+12025550143")
    row.sms_consent = True
    row.email_consent = True
    db.flush()
    return row


def _at(clock: Clock, **delta: float) -> str:
    return (clock.now() + timedelta(**delta)).isoformat()


def _send(api: TestClient, staff: Staff, client: Client, **body: Any) -> Any:
    payload = {"type": "sms", "client_id": client.id, "body": "Please call our office.", **body}
    return api.post("/comms", json=payload, headers=staff.headers)


def _bulk(api: TestClient, staff: Staff, client: Client, **body: Any) -> Any:
    payload = {"type": "sms", "client_ids": [client.id], "body": "Office closed Friday.", **body}
    return api.post("/comms/bulk", json=payload, headers=staff.headers)


def _audited(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


@pytest.mark.parametrize("route", ["single", "bulk"])
@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("past", "in the future"),
        ("now", "in the future"),
        ("too_far", "90 days"),
        ("naive", "timezone"),
        ("not_a_time", "datetime"),
    ],
)
def test_send_at_must_be_an_offset_time_in_the_next_90_days(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    clock: Clock,
    route: str,
    when: str,
    words: str,
) -> None:
    send_at = {
        "past": _at(clock, minutes=-1),
        "now": clock.now().isoformat(),
        "too_far": _at(clock, days=90, minutes=1),
        "naive": (clock.now() + timedelta(hours=1)).replace(tzinfo=None).isoformat(),
        "not_a_time": "tomorrow at noon",
    }[when]
    post = _send if route == "single" else _bulk
    response = post(api, staff, client, send_at=send_at)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert words in error["fields"]["send_at"]
    assert db.scalars(select(Communication)).first() is None


def test_a_scheduled_sms_is_queued_for_its_time(
    api: TestClient, db: Session, staff: Staff, client: Client, clock: Clock
) -> None:
    # Given with another offset than UTC's: the same instant, kept and shown in UTC.
    local = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    chicago = local.astimezone(timezone(timedelta(hours=-6)))
    response = _send(api, staff, client, send_at=chicago.isoformat())
    assert response.status_code == 202, response.text
    comm = response.json()["communication"]
    assert comm["status"] == "queued"
    assert datetime.fromisoformat(comm["send_at"]) == local
    row = db.get(Communication, comm["id"])
    assert row is not None and row.next_attempt_at == local
    (audit,) = _audited(db, "SMS_QUEUED")
    assert audit.details["send_at"] == local.isoformat()
    jobs = [t for t in huey.pending() if t.name == "comms.deliver_sms" and t.args[0] == comm["id"]]
    assert len(jobs) == 1 and jobs[0].eta is not None  # Huey keeps it until then
    eta = jobs[0].eta.replace(tzinfo=UTC) if jobs[0].eta.tzinfo is None else jobs[0].eta
    assert abs((eta - local).total_seconds()) < 60
    shown = api.get(f"/comms/{comm['id']}", headers=staff.headers).json()["communication"]
    assert shown["send_at"] == comm["send_at"]


def test_cancel_a_queued_message_then_not_again(
    api: TestClient, db: Session, staff: Staff, client: Client, clock: Clock
) -> None:
    comm_id = _send(api, staff, client, send_at=_at(clock, hours=3)).json()["communication"]["id"]
    other = create_staff(db, role="clinician")  # anyone who may send to the client may cancel
    db.add(CareTeamMember(client_id=client.id, user_id=other.user.id))
    clock.advance(timedelta(seconds=1))
    response = api.post(f"/comms/{comm_id}/cancel", headers=other.headers)
    assert response.status_code == 200, response.text
    assert response.json()["communication"]["status"] == "cancelled"
    shown = api.get(f"/comms/{comm_id}", headers=staff.headers).json()["communication"]
    assert [e["status"] for e in shown["events"]] == ["queued", "cancelled"]
    (audit,) = _audited(db, "COMMUNICATION_CANCELLED")
    assert audit.actor_user_id == other.user.id
    assert audit.details == {"communication_id": comm_id, "channel": "sms", "scheduled": True}

    again = api.post(f"/comms/{comm_id}/cancel", headers=staff.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"
    assert "cancelled" in again.json()["error"]["message"]
    missing = api.post(f"/comms/{'0' * 32}/cancel", headers=staff.headers)
    assert missing.status_code == 404


def test_a_claimed_message_cannot_be_cancelled(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    comm_id = _send(api, staff, client).json()["communication"]["id"]
    row = db.get(Communication, comm_id)
    assert row is not None
    row.status = "sending"  # a worker claimed it
    db.flush()
    response = api.post(f"/comms/{comm_id}/cancel", headers=staff.headers)
    assert response.status_code == 409
    assert response.json()["error"]["message"].startswith("the message is sending")
    assert _audited(db, "COMMUNICATION_CANCELLED") == []


def test_a_scheduled_campaign_is_listed_shown_and_cancelled(
    api: TestClient, db: Session, staff: Staff, client: Client, clock: Clock
) -> None:
    send_at = clock.now().replace(microsecond=0) + timedelta(days=1)
    first = _bulk(api, staff, client, send_at=send_at.isoformat()).json()["campaign"]
    assert first["status"] == "scheduled"
    assert datetime.fromisoformat(first["send_at"]) == send_at
    clock.advance(timedelta(seconds=1))
    second = _bulk(api, staff, client).json()["campaign"]
    assert second["send_at"] is None

    page = api.get("/campaigns?limit=1", headers=staff.headers).json()
    assert [c["id"] for c in page["campaigns"]] == [second["id"]]
    rest = api.get(f"/campaigns?limit=1&cursor={page['next_cursor']}", headers=staff.headers)
    assert [c["id"] for c in rest.json()["campaigns"]] == [first["id"]]
    assert rest.json()["campaigns"][0]["counts"] == {}

    clinician = create_staff(db, role="clinician")  # a clinician cancels only their own
    forbidden = api.post(f"/campaigns/{first['id']}/cancel", headers=clinician.headers)
    assert forbidden.status_code == 404
    response = api.post(f"/campaigns/{first['id']}/cancel", headers=staff.headers)
    assert response.status_code == 200, response.text
    assert response.json()["campaign"]["status"] == "cancelled"
    shown = api.get(f"/campaigns/{first['id']}", headers=staff.headers).json()["campaign"]
    assert shown["status"] == "cancelled" and shown["progress"] == 0
    (audit,) = _audited(db, "CAMPAIGN_CANCELLED")
    assert audit.details == {"campaign_id": first["id"], "scheduled": True}
    again = api.post(f"/campaigns/{first['id']}/cancel", headers=staff.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"
    missing = api.post(f"/campaigns/{'0' * 32}/cancel", headers=staff.headers)
    assert missing.status_code == 404
