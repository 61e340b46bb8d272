"""GET /comms?provider_id=: a message found by the id its provider gave it (a Twilio SID, the
Node version's getSMSStatus(sid); a SendGrid message id), checked before any query, for every
role that lists messages, and audited. The end-to-end lookups are in the live SMS and email
tests, where the ids come from the provider sandbox."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.access_models import CareTeamMember
from proirp.comms.models import Communication
from tests.factories import create_client, create_staff

SID = "SM" + "a1b2c3d4" * 4


def _message(db: Session, provider: str, provider_id: str | None) -> Communication:
    client = create_client(db)
    user = create_staff(db, role="staff").user
    comm = Communication(
        client_id=client.id,
        user_id=user.id,
        channel="sms" if provider == "twilio" else "email",
        to_address="+12025550143" if provider == "twilio" else "avery@example.com",
        body="Please call our office.",
        provider=provider,
        provider_message_id=provider_id,
        status="sent",
    )
    db.add(comm)
    db.flush()
    return comm


@pytest.mark.parametrize("role", ["admin", "staff", "clinician"])
def test_every_role_that_lists_messages_finds_one_by_its_provider_id(
    api: TestClient, db: Session, role: str
) -> None:
    sms = _message(db, "twilio", SID)
    _message(db, "twilio", "SM" + "f" * 32)
    email = _message(db, "sendgrid", "W86EgYT6SQKk0lRflfLRsA")
    staff = create_staff(db, role=role)
    for comm in (sms, email):  # a clinician finds their care team's messages
        db.add(CareTeamMember(client_id=comm.client_id, user_id=staff.user.id))
    for provider_id, expected in (
        (SID, sms.id),
        ("W86EgYT6SQKk0lRflfLRsA", email.id),
        ("W86EgYT6SQKk0lRflfLRsA.filterdrecv-0", email.id),
    ):
        response = api.get("/comms", params={"provider_id": provider_id}, headers=staff.headers)
        assert response.status_code == 200, response.text
        assert [c["id"] for c in response.json()["communications"]] == [expected]


def test_an_unknown_provider_id_is_an_empty_list(api: TestClient, db: Session) -> None:
    _message(db, "twilio", SID)
    staff = create_staff(db, role="staff")
    response = api.get("/comms", params={"provider_id": "SM" + "0" * 32}, headers=staff.headers)
    assert response.json() == {"ok": True, "communications": [], "next_cursor": None}


def test_the_lookup_combines_with_the_other_filters(api: TestClient, db: Session) -> None:
    sms = _message(db, "twilio", SID)
    staff = create_staff(db, role="staff")
    params = {"provider_id": SID, "client_id": sms.client_id, "status": "sent"}
    response = api.get("/comms", params=params, headers=staff.headers)
    assert [c["id"] for c in response.json()["communications"]] == [sms.id]
    other = api.get("/comms", params={**params, "status": "delivered"}, headers=staff.headers)
    assert other.json()["communications"] == []


def test_a_status_that_is_none_of_a_messages_is_a_422_naming_it(
    api: TestClient, db: Session
) -> None:
    """Before, a mistyped status listed nothing, as if no message had it."""
    staff = create_staff(db, role="staff")
    response = api.get("/comms", params={"status": "deliverd"}, headers=staff.headers)
    assert response.status_code == 422, response.text
    assert list(response.json()["error"]["fields"]) == ["status"]


@pytest.mark.parametrize(
    "provider_id",
    [
        pytest.param("", id="empty"),
        pytest.param("SM" + "a" * 127, id="too long"),
        pytest.param("SM12 34", id="a space"),
        pytest.param("SM1234'; DROP TABLE communications; --", id="quotes"),
        pytest.param("SM\x001234", id="a NUL"),
        pytest.param("../../etc", id="a path"),
        pytest.param(".", id="only a suffix"),
        pytest.param(".filterdrecv-0", id="a suffix without the id"),
        pytest.param("SMé1234", id="not ASCII"),
    ],
)
def test_a_provider_id_that_cannot_be_one_is_a_422_naming_it(
    api: TestClient, db: Session, provider_id: str
) -> None:
    staff = create_staff(db, role="staff")
    response = api.get("/comms", params={"provider_id": provider_id}, headers=staff.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["provider_id"]


def test_the_lookup_is_audited_with_what_was_looked_up(api: TestClient, db: Session) -> None:
    sms = _message(db, "twilio", SID)
    staff = create_staff(db, role="staff")
    api.get("/comms", params={"provider_id": SID}, headers=staff.headers)
    audit = db.scalars(
        select(AuditLog).where(
            AuditLog.action == "COMMUNICATIONS_LISTED", AuditLog.actor_user_id == staff.user.id
        )
    ).one()
    assert audit.details["communication_ids"] == [sms.id]
    assert audit.details["provider_id"] == SID
