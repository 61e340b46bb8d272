"""An audit row commits with the change it describes, or not at all."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.models import AuditLog
from proirp.clients import endpoints as client_endpoints
from proirp.clients import service as client_service
from proirp.clients.models import Client
from tests.factories import Staff, create_staff

NEW_CLIENT = {"first_name": "Rowan", "last_name": "Ellis", "phone": "+12025550188"}


@pytest.fixture
def staff(db: Session) -> Staff:
    member = create_staff(db, role="staff")
    db.commit()  # a failed request rolls back only its own work, not this user
    return member


def _created(db: Session, staff: Staff) -> tuple[list[Client], list[AuditLog]]:
    clients = db.scalars(select(Client).where(Client.created_by_user_id == staff.user.id)).all()
    rows = db.scalars(
        select(AuditLog).where(
            AuditLog.action == AuditAction.CLIENT_CREATED,
            AuditLog.actor_user_id == staff.user.id,
        )
    ).all()
    return list(clients), list(rows)


def test_a_change_and_its_audit_row_commit_together(
    api: TestClient, db: Session, staff: Staff
) -> None:
    response = api.post("/clients", json=NEW_CLIENT, headers=staff.headers)

    assert response.status_code == 201, response.text
    clients, rows = _created(db, staff)
    assert [c.id for c in clients] == [response.json()["client"]["id"]]
    assert [(r.client_id, r.details) for r in rows] == [(clients[0].id, {})]


def test_a_request_refused_by_the_service_leaves_no_audit_row(
    api: TestClient, db: Session, staff: Staff
) -> None:
    body = {**NEW_CLIENT, "sms_consent": True}  # consent without saying how it was given

    response = api.post("/clients", json=body, headers=staff.headers)

    assert response.status_code == 422
    assert "consent_source" in response.json()["error"]["fields"]
    assert _created(db, staff) == ([], [])


def test_a_failure_after_the_audit_row_was_written_rolls_both_back(
    api: TestClient, db: Session, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[str] = []
    real_record_audit = client_service.record_audit

    def spy(session: Session, **kwargs: Any) -> AuditLog:
        row = real_record_audit(session, **kwargs)
        recorded.append(row.action)
        return row

    def broken_view(session: Session, client: Client) -> dict[str, Any]:
        raise RuntimeError("rendering failed after the change and its audit row were flushed")

    monkeypatch.setattr(client_service, "record_audit", spy)
    monkeypatch.setattr(client_endpoints, "_one", broken_view)

    response = api.post("/clients", json=NEW_CLIENT, headers=staff.headers)

    assert response.status_code == 500
    assert recorded == [AuditAction.CLIENT_CREATED], "the audit row was written, then undone"
    assert _created(db, staff) == ([], [])
