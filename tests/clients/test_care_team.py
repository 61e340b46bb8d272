"""Care teams: admins and front desk set them (audited); clinicians see only their clients; a
clinician who creates a client is on its team."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.access_models import CareTeamMember
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff


def _audited(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_front_desk_assigns_a_clinician_who_then_sees_the_client(
    api: TestClient, db: Session, staff: Staff
) -> None:
    clinician = create_staff(db, role="clinician")
    client = create_client(db, last_name="Okafor")
    db.commit()
    assert api.get(f"/clients/{client.id}", headers=clinician.headers).status_code == 404

    answer = api.put(
        f"/clients/{client.id}/care-team",
        json={"user_ids": [clinician.user.id]},
        headers=staff.headers,
    )
    assert answer.status_code == 200, answer.text
    [member] = answer.json()["care_team"]
    assert (member["user_id"], member["role"]) == (clinician.user.id, "clinician")
    assert member["assigned_by_user_id"] == staff.user.id
    [added] = _audited(db, "CARE_TEAM_MEMBER_ADDED")
    assert (added.actor_user_id, added.client_id) == (staff.user.id, client.id)
    assert added.details == {"member_user_id": clinician.user.id}

    assert api.get(f"/clients/{client.id}", headers=clinician.headers).status_code == 200
    listed = api.get("/clients", params={"q": "Okafor"}, headers=clinician.headers).json()
    assert [c["id"] for c in listed["clients"]] == [client.id]
    team = api.get(f"/clients/{client.id}/care-team", headers=clinician.headers)
    assert [m["user_id"] for m in team.json()["care_team"]] == [clinician.user.id]


def test_unassigning_ends_the_clinicians_access(api: TestClient, db: Session, admin: Staff) -> None:
    kept, removed = create_staff(db, role="clinician"), create_staff(db, role="clinician")
    client = create_client(db)
    db.commit()
    both = {"user_ids": [kept.user.id, removed.user.id]}
    assert api.put(f"/clients/{client.id}/care-team", json=both, headers=admin.headers).is_success
    assert api.get(f"/clients/{client.id}", headers=removed.headers).status_code == 200

    one = {"user_ids": [kept.user.id]}
    answer = api.put(f"/clients/{client.id}/care-team", json=one, headers=admin.headers)
    assert [m["user_id"] for m in answer.json()["care_team"]] == [kept.user.id]
    assert api.get(f"/clients/{client.id}", headers=removed.headers).status_code == 404
    assert api.get(f"/clients/{client.id}", headers=kept.headers).status_code == 200
    [gone] = _audited(db, "CARE_TEAM_MEMBER_REMOVED")
    assert (gone.actor_user_id, gone.details) == (
        admin.user.id,
        {"member_user_id": removed.user.id},
    )


def test_a_care_team_holds_active_clinicians_only(
    api: TestClient, db: Session, admin: Staff
) -> None:
    front_desk = create_staff(db, role="staff")
    gone = create_staff(db, role="clinician")
    gone.user.is_active = False
    client = create_client(db)
    db.commit()
    for user_ids in ([front_desk.user.id], [gone.user.id], ["0" * 32]):
        answer = api.put(
            f"/clients/{client.id}/care-team", json={"user_ids": user_ids}, headers=admin.headers
        )
        assert answer.status_code == 422, answer.text
        assert "user_ids" in answer.json()["error"]["fields"]
    assert _audited(db, "CARE_TEAM_MEMBER_ADDED") == []


def test_a_clinician_may_not_assign(api: TestClient, db: Session) -> None:
    clinician = create_staff(db, role="clinician")
    client = create_client(db)
    db.commit()
    answer = api.put(
        f"/clients/{client.id}/care-team",
        json={"user_ids": [clinician.user.id]},
        headers=clinician.headers,
    )
    assert answer.status_code == 403


def test_a_clinician_who_creates_a_client_is_on_its_team(api: TestClient, db: Session) -> None:
    creator, colleague = create_staff(db, role="clinician"), create_staff(db, role="clinician")
    db.commit()
    answer = api.post(
        "/clients",
        json={"first_name": "Sam", "last_name": "Iverson", "timezone": "America/Chicago"},
        headers=creator.headers,
    )
    assert answer.status_code == 201, answer.text
    client_id = answer.json()["client"]["id"]
    assert api.get(f"/clients/{client_id}", headers=creator.headers).status_code == 200
    assert api.get(f"/clients/{client_id}", headers=colleague.headers).status_code == 404
    [added] = _audited(db, "CARE_TEAM_MEMBER_ADDED")
    assert (added.actor_user_id, added.details) == (
        creator.user.id,
        {"member_user_id": creator.user.id},
    )


def test_a_refusal_is_the_answer_for_a_client_that_does_not_exist(
    api: TestClient, db: Session
) -> None:
    """A clinician cannot tell another clinician's client from an id of nothing."""
    clinician = create_staff(db, role="clinician")
    client = create_client(db)
    db.commit()
    theirs = api.get(f"/clients/{client.id}", headers=clinician.headers)
    nothing = api.get(f"/clients/{'0' * 32}", headers=clinician.headers)
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == nothing.json()
    message = {"type": "sms", "body": "Hello"}
    theirs = api.post("/comms", json={"client_id": client.id, **message}, headers=clinician.headers)
    nothing = api.post("/comms", json={"client_id": "0" * 32, **message}, headers=clinician.headers)
    assert theirs.status_code == nothing.status_code == 422
    assert theirs.json() == nothing.json()


def test_a_team_read_back_with_a_member_since_disabled_is_taken_without_them(
    api: TestClient, db: Session, admin: Staff
) -> None:
    kept, leaver = create_staff(db, role="clinician"), create_staff(db, role="clinician")
    client = create_client(db)
    db.commit()
    both = {"user_ids": [kept.user.id, leaver.user.id]}
    assert api.put(f"/clients/{client.id}/care-team", json=both, headers=admin.headers).is_success
    assert api.post(f"/users/{leaver.user.id}/disable", headers=admin.headers).is_success

    read = api.get(f"/clients/{client.id}/care-team", headers=admin.headers).json()
    as_read = {"user_ids": [m["user_id"] for m in read["care_team"]]}
    answer = api.put(f"/clients/{client.id}/care-team", json=as_read, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert [m["user_id"] for m in answer.json()["care_team"]] == [kept.user.id]
    # Someone new must still be an active clinician.
    clerk = create_staff(db, role="staff")
    db.commit()
    refused = api.put(
        f"/clients/{client.id}/care-team",
        json={"user_ids": [kept.user.id, clerk.user.id]},
        headers=admin.headers,
    )
    assert refused.status_code == 422 and "user_ids" in refused.json()["error"]["fields"]


def test_a_clinicians_list_pages_through_their_team_alone_newest_first(
    api: TestClient, db: Session
) -> None:
    clinician = create_staff(db, role="clinician")
    team = [create_client(db, last_name=f"Okafor{n}") for n in range(5)]
    outsider = create_client(db, last_name="Okafor9")
    archived = create_client(db, last_name="Okafor8")
    for n, client in enumerate([*team, archived]):
        client.created_at = utcnow() - timedelta(minutes=10 - n)
        db.add(CareTeamMember(client_id=client.id, user_id=clinician.user.id))
    archived.deleted_at = utcnow()
    db.commit()

    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = api.get("/clients", params=params, headers=clinician.headers).json()
        seen += [c["id"] for c in page["clients"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [c.id for c in reversed(team)]
    assert outsider.id not in seen

    found = api.get("/clients", params={"q": "okafor3"}, headers=clinician.headers).json()
    assert [c["id"] for c in found["clients"]] == [team[3].id]
    none = api.get("/clients", params={"q": "okafor9"}, headers=clinician.headers).json()
    assert none["clients"] == []
