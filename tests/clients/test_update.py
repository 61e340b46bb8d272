"""PATCH and DELETE /clients/{id}: changes audited by field name, consent withdrawal, archiving,
and the opt-out state a client shows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.models import Client, OptOut
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client


def audits(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def patch(api: TestClient, staff: Staff, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.patch(f"/clients/{client_id}", json=body, headers=staff.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["client"]
    return result


def test_patch_changes_fields_and_audits_their_names_only(
    api: TestClient, db: Session, staff: Staff
) -> None:
    client = create_client(db)
    before = client.updated_at

    updated = patch(
        api, staff, client.id, {"last_name": "Quinn-Reyes", "phone": "312.555.0188", "email": None}
    )

    assert updated["last_name"] == "Quinn-Reyes"
    assert updated["phone"] == "+13125550188"
    assert updated["email"] is None
    assert updated["first_name"] == "Avery"  # untouched
    assert datetime.fromisoformat(updated["updated_at"]) > before
    [audit] = audits(db, "CLIENT_UPDATED")
    assert (audit.client_id, audit.actor_user_id) == (client.id, staff.user.id)
    assert audit.details == {"fields": ["last_name", "phone", "email"]}
    details = json.dumps(audit.details)
    assert "Reyes" not in details and "0188" not in details


def test_patch_with_no_real_change_lists_no_fields(
    api: TestClient, db: Session, staff: Staff
) -> None:
    client = create_client(db)
    patch(api, staff, client.id, {"first_name": "Avery", "phone": "(202) 555-0143"})
    [audit] = audits(db, "CLIENT_UPDATED")
    assert audit.details == {"fields": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"timezone": None}, "timezone"),
        ({"phone": "555"}, "phone"),
        ({"email_consent": True}, "consent_source"),
        ({"id": "someone-else"}, "id"),
    ],
)
def test_a_bad_patch_is_a_422_and_changes_nothing(
    api: TestClient, db: Session, staff: Staff, body: dict[str, Any], field: str
) -> None:
    client = create_client(db)
    db.commit()

    response = api.patch(f"/clients/{client.id}", json=body, headers=staff.headers)

    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    db.refresh(client)
    assert (client.first_name, client.phone, client.email_consent) == (
        "Avery",
        "+12025550143",
        False,
    )
    assert audits(db, "CLIENT_UPDATED") == []


def test_patch_an_unknown_client_is_404(api: TestClient, staff: Staff) -> None:
    response = api.patch("/clients/nope", json={"last_name": "X"}, headers=staff.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "client_not_found"


def test_granting_then_withdrawing_consent_records_each_time(
    api: TestClient, db: Session, staff: Staff
) -> None:
    client = create_client(db)
    granted = patch(api, staff, client.id, {"email_consent": True, "consent_source": "portal"})
    assert granted["email_consent"] is True
    assert granted["email_consent_source"] == granted["consent_source"] == "portal"
    granted_at = datetime.fromisoformat(granted["email_consent_at"])

    withdrawn = patch(api, staff, client.id, {"email_consent": False})

    assert withdrawn["email_consent"] is False
    withdrawn_at = datetime.fromisoformat(withdrawn["email_consent_at"])
    assert granted_at < withdrawn_at <= utcnow()
    assert withdrawn["email_consent_source"] == withdrawn["consent_source"] == "withdrawn"
    assert audits(db, "CLIENT_UPDATED")[-1].details == {"fields": ["email_consent"]}


def test_delete_archives_the_client_and_audits_it(
    api: TestClient, db: Session, admin: Staff
) -> None:
    client = create_client(db)
    kept = create_client(db, first_name="Dev", last_name="Patel")

    response = api.delete(f"/clients/{client.id}", headers=admin.headers)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    db.refresh(client)
    assert client.deleted_at is not None  # archived, not removed
    [audit] = audits(db, "CLIENT_DELETED")
    assert (audit.client_id, audit.actor_user_id) == (client.id, admin.user.id)
    gone = api.get(f"/clients/{client.id}", headers=admin.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "client_not_found"
    listed = api.get("/clients", headers=admin.headers).json()["clients"]
    assert [c["id"] for c in listed] == [kept.id]
    assert api.delete(f"/clients/{client.id}", headers=admin.headers).status_code == 404
    assert api.patch(f"/clients/{client.id}", json={}, headers=admin.headers).status_code == 404


def opt_out(db: Session, client: Client, channel: str, address: str, *, revoked: bool) -> None:
    db.add(
        OptOut(
            client_id=client.id,
            channel=channel,
            address=address,
            reason="STOP" if channel == "sms" else "unsubscribe",
            source="sms_keyword" if channel == "sms" else "email_event",
            revoked_at=utcnow() if revoked else None,
        )
    )
    db.flush()


def view(api: TestClient, staff: Staff, client_id: str) -> dict[str, Any]:
    result: dict[str, Any] = api.get(f"/clients/{client_id}", headers=staff.headers).json()
    return result["client"]


def test_an_active_opt_out_shows_on_the_client(api: TestClient, db: Session, staff: Staff) -> None:
    client = create_client(db, email="Avery.Quinn@example.com")
    other = create_client(db, phone="+13125550188", email="dev@example.com")
    assert view(api, staff, client.id)["sms_opted_out"] is False

    opt_out(db, client, "sms", "+12025550143", revoked=False)
    opt_out(db, client, "email", "avery.quinn@example.com", revoked=False)

    shown = view(api, staff, client.id)
    assert shown["sms_opted_out"] is True
    assert shown["email_suppressed"] is True
    listed = {c["id"]: c for c in api.get("/clients", headers=staff.headers).json()["clients"]}
    assert listed[client.id]["sms_opted_out"] is True
    assert listed[other.id]["sms_opted_out"] is False
    assert listed[other.id]["email_suppressed"] is False


def test_a_revoked_opt_out_no_longer_counts(api: TestClient, db: Session, staff: Staff) -> None:
    client = create_client(db)
    opt_out(db, client, "sms", "+12025550143", revoked=True)
    opt_out(db, client, "email", "avery.quinn@example.com", revoked=True)

    shown = view(api, staff, client.id)
    assert shown["sms_opted_out"] is False
    assert shown["email_suppressed"] is False
