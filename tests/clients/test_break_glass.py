"""Break-glass: a clinician's emergency access to a client outside their care team, for a stated
reason, for a time; audited when opened and on every access; over by itself; reviewed by admins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.kit.time import Clock, set_clock, utcnow
from tests.factories import Staff, create_client, create_staff

REASON = "Client Avery Quinn called in crisis; Dr Lee is away"


@pytest.fixture
def clock() -> Iterator[Clock]:
    with set_clock(utcnow()) as clock:
        yield clock


@pytest.fixture
def clinician(db: Session, clock: Clock) -> Staff:
    member = create_staff(db, role="clinician")
    db.commit()
    return member


@pytest.fixture
def client(db: Session) -> Client:
    """A client on another clinician's care team."""
    row = create_client(db, last_name="Quinn")
    db.add(CareTeamMember(client_id=row.id, user_id=create_staff(db, role="clinician").user.id))
    db.commit()
    return row


def _open(api: TestClient, who: Staff, client_id: str, **body: object) -> dict:
    answer = api.post(
        "/break-glass",
        json={"client_id": client_id, "reason": REASON, **body},
        headers=who.headers,
    )
    return {"status": answer.status_code, **answer.json()}


def _audited(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_open_use_and_expiry(
    api: TestClient, db: Session, clinician: Staff, client: Client, clock: Clock
) -> None:
    assert api.get(f"/clients/{client.id}", headers=clinician.headers).status_code == 404

    opened = _open(api, clinician, client.id, minutes=30)
    assert opened["status"] == 201, opened
    grant = opened["grant"]
    assert (grant["user_id"], grant["client_id"], grant["active"]) == (
        clinician.user.id,
        client.id,
        True,
    )
    assert grant["reason"] is None  # shown to the admins who review it, not echoed
    [audit] = _audited(db, "BREAK_GLASS_OPENED")
    assert (audit.actor_user_id, audit.client_id) == (clinician.user.id, client.id)
    assert audit.details == {
        "grant_id": grant["id"],
        "expires_at": grant["expires_at"].replace("Z", "+00:00"),
    }

    # During the grant: the client's record, thread and appointments, each access audited.
    for path in ("", "/messages", "/appointments"):
        answer = api.get(f"/clients/{client.id}{path}", headers=clinician.headers)
        assert answer.status_code == 200, (path, answer.text)
    used = _audited(db, "BREAK_GLASS_USED")
    assert len(used) == 3
    assert {(u.actor_user_id, u.client_id, u.details["grant_id"]) for u in used} == {
        (clinician.user.id, client.id, grant["id"])
    }
    # Lists, searches and campaigns stay the care team's.
    listed = api.get("/clients", params={"q": "Quinn"}, headers=clinician.headers).json()
    assert listed["clients"] == []
    campaign = {"type": "sms", "body": "Hello", "client_ids": [client.id]}
    refused = api.post("/comms/bulk", json=campaign, headers=clinician.headers)
    assert (refused.status_code, list(refused.json()["error"]["fields"])) == (422, ["client_ids"])

    clock.advance(timedelta(minutes=29))
    assert api.get(f"/clients/{client.id}", headers=clinician.headers).status_code == 200
    clock.advance(timedelta(minutes=1))  # it ends by itself
    assert api.get(f"/clients/{client.id}", headers=clinician.headers).status_code == 404
    message = {"client_id": client.id, "type": "sms", "body": "Hello"}
    refused = api.post("/comms", json=message, headers=clinician.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == {"client_id": "no such client"}
    assert len(_audited(db, "BREAK_GLASS_USED")) == 4  # the last access inside the grant only


def test_the_reason_is_kept_encrypted_and_never_audited(
    api: TestClient, db: Session, clinician: Staff, client: Client
) -> None:
    grant_id = _open(api, clinician, client.id)["grant"]["id"]
    stored = db.execute(
        text("SELECT reason FROM break_glass_grants WHERE id = :id"), {"id": grant_id}
    ).scalar_one()
    assert "crisis" not in stored and "Quinn" not in stored
    for row in db.scalars(select(AuditLog)):
        assert "crisis" not in str(row.details), row.action


def test_admins_review_the_grants(
    api: TestClient, db: Session, clinician: Staff, client: Client, clock: Clock
) -> None:
    admin = create_staff(db, role="admin")
    db.commit()
    grant_id = _open(api, clinician, client.id, minutes=60)["grant"]["id"]
    clock.advance(timedelta(hours=2))
    admin = create_staff(db, role="admin")  # a token valid at the new time
    db.commit()

    listed = api.get("/break-glass", headers=admin.headers).json()
    [grant] = listed["grants"]
    assert (grant["id"], grant["user_id"], grant["client_id"]) == (
        grant_id,
        clinician.user.id,
        client.id,
    )
    assert (grant["active"], grant["reviewed_at"], grant["reason"]) == (False, None, REASON)
    assert _audited(db, "BREAK_GLASS_LISTED")[0].details == {
        "grant_ids": [grant_id],
        "client_ids": [client.id],
    }

    reviewed = api.post(f"/break-glass/{grant_id}/review", headers=admin.headers)
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["grant"]["reviewed_by_user_id"] == admin.user.id
    assert reviewed.json()["grant"]["reviewed_at"] is not None
    again = api.post(f"/break-glass/{grant_id}/review", headers=admin.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reviewed")
    [audit] = _audited(db, "BREAK_GLASS_REVIEWED")
    assert (audit.actor_user_id, audit.client_id) == (admin.user.id, client.id)
    assert audit.details == {"grant_id": grant_id, "opened_by": clinician.user.id}


def test_a_clinician_lists_their_own_grants_without_the_reason(
    api: TestClient, db: Session, clinician: Staff, client: Client
) -> None:
    colleague = create_staff(db, role="clinician")
    db.commit()
    mine = _open(api, clinician, client.id)["grant"]["id"]
    _open(api, colleague, client.id)
    [grant] = api.get("/break-glass", headers=clinician.headers).json()["grants"]
    assert (grant["id"], grant["reason"]) == (mine, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"minutes": 241}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": "60"}, "minutes"),
        ({"client_id": "0" * 32}, "client_id"),
    ],
)
def test_bad_requests_name_the_field(
    api: TestClient,
    db: Session,
    clinician: Staff,
    client: Client,
    body: dict,
    field: str,
) -> None:
    answer = _open(api, clinician, body.pop("client_id", client.id), **body)
    assert answer["status"] == 422, answer
    assert field in answer["error"]["fields"]
    assert _audited(db, "BREAK_GLASS_OPENED") == []


def test_no_grant_for_ones_own_client_nor_twice(
    api: TestClient, db: Session, clinician: Staff, client: Client
) -> None:
    own = create_client(db)
    db.add(CareTeamMember(client_id=own.id, user_id=clinician.user.id))
    db.commit()
    refused = _open(api, clinician, own.id)
    assert (refused["status"], list(refused["error"]["fields"])) == (422, ["client_id"])
    assert _open(api, clinician, client.id)["status"] == 201
    twice = _open(api, clinician, client.id)
    assert (twice["status"], twice["error"]["code"]) == (409, "break_glass_open")


def test_only_clinicians_open_it(api: TestClient, db: Session, client: Client) -> None:
    """Admins and front desk see every client already."""
    for role in ("admin", "staff"):
        who = create_staff(db, role=role)
        db.commit()
        assert _open(api, who, client.id)["status"] == 403
