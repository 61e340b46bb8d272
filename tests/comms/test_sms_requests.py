"""POST /comms for SMS, in-process: what is queued, what is blocked, what is refused outright."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.models import Client, OptOut
from proirp.comms.models import Communication, Template
from proirp.config import Settings
from proirp.worker.queue import huey
from tests.factories import Staff


def _send(api: TestClient, staff: Staff, **body: Any) -> Any:
    return api.post("/comms", json={"type": "sms", **body}, headers=staff.headers)


def _count(db: Session, model: Any, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _pending_deliveries() -> list[str]:
    return [t.args[0] for t in huey.pending() if t.name == "comms.deliver_sms"]


def test_send_queues_a_row_with_an_encrypted_body(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = _send(api, staff, client_id=client.id, body="Please call our office.")
    assert response.status_code == 202, response.text
    comm = response.json()["communication"]
    assert comm["status"] == "queued"
    assert comm["to"] == "+12025550143"
    assert comm["segments"] == 1
    raw = db.execute(text("SELECT body FROM communications WHERE id = :id"), {"id": comm["id"]})
    assert "Please call" not in raw.scalar_one()
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "SMS_QUEUED")).one()
    assert audit.client_id == client.id
    assert "Please call" not in str(audit.details)
    assert comm["id"] in _pending_deliveries()


def test_get_and_list_show_status_and_history(
    api: TestClient, staff: Staff, client: Client
) -> None:
    comm_id = _send(api, staff, client_id=client.id, body="Please call us.").json()[
        "communication"
    ]["id"]
    one = api.get(f"/comms/{comm_id}", headers=staff.headers).json()["communication"]
    assert [e["status"] for e in one["events"]] == ["queued"]
    listed = api.get(f"/comms?client_id={client.id}", headers=staff.headers).json()
    assert [c["id"] for c in listed["communications"]] == [comm_id]
    assert api.get("/comms/nope", headers=staff.headers).status_code == 404


@pytest.mark.parametrize("reason", ["no_consent", "opted_out"])
def test_blocked_clients_get_a_blocked_row_not_a_send(
    api: TestClient, db: Session, staff: Staff, client: Client, reason: str
) -> None:
    if reason == "no_consent":
        client.sms_consent = False
    else:
        db.add(OptOut(channel="sms", address=client.phone, reason="replied STOP", source="test"))
    db.flush()
    response = _send(api, staff, client_id=client.id, body="Please call us.")
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "message_blocked"
    assert body["communication"]["status"] == "blocked"
    assert ("consented" if reason == "no_consent" else "opted out") in body["error"]["message"]
    assert _count(db, AuditLog, AuditLog.action == "SMS_BLOCKED") == 1
    assert body["communication"]["id"] not in _pending_deliveries()


def test_phi_is_blocked_without_a_baa(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    text_with_phi = "Hi Avery, your session with Dr. Rivera is at 3pm."
    response = _send(api, staff, client_id=client.id, body=text_with_phi)
    assert response.status_code == 422
    error = response.json()["error"]
    assert "the client's name" in error["fields"]["body"]
    assert "an appointment time" in error["fields"]["body"]
    assert "Rivera" not in response.text
    blocked = db.scalars(select(Communication)).one()
    assert blocked.status == "blocked"
    assert _count(db, AuditLog, AuditLog.action == "SMS_BLOCKED") == 1


def test_phi_goes_with_a_baa(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "twilio_hipaa_enabled", True)
    response = _send(api, staff, client_id=client.id, body="Hi Avery, see you at 3pm.")
    assert response.status_code == 202
    assert response.json()["communication"]["status"] == "queued"


@pytest.mark.parametrize(
    ("change", "body", "field", "words"),
    [
        ("unknown_client", "Hello", "client_id", "no such client"),
        ("no_phone", "Hello", "client_id", "no phone"),
        ("landline", "Hello", "client_id", "cannot receive SMS"),
        ("none", "   ", "body", "empty"),
        ("none", "x" * 1601, "body", "11 segments"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    change: str,
    body: str,
    field: str,
    words: str,
) -> None:
    client_id = client.id
    if change == "unknown_client":
        client_id = "0" * 32
    elif change == "no_phone":
        client.phone = None
    elif change == "landline":
        client.phone = "+442071838750"
    db.flush()
    audit_before = _count(db, AuditLog)
    response = _send(api, staff, client_id=client_id, body=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert words in error["fields"][field]
    assert _count(db, Communication) == 0
    assert _count(db, AuditLog) == audit_before


def test_subject_and_html_are_refused_on_an_sms(
    api: TestClient, staff: Staff, client: Client
) -> None:
    response = _send(api, staff, client_id=client.id, body="Hi", subject="Hello")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"subject": "is for email only"}
    response = _send(api, staff, client_id=client.id, body="Hi", html="<p>Hi</p>")
    assert response.json()["error"]["fields"] == {"html": "is for email only"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "sms", "client_ids": [], "body": "Hi"}, "client_ids"),
        ({"type": "sms", "body": "Hi"}, "client_ids"),
        ({"type": "sms", "filter": {}, "body": "Hi", "subject": "Hello"}, "subject"),
        ({"type": "sms", "filter": {}, "template_id": "x", "body": "Hi"}, "template_id"),
        ({"type": "sms", "filter": {}}, "body"),
    ],
)
def test_a_campaign_refused_names_the_field_to_change(
    api: TestClient, staff: Staff, body: dict[str, object], field: str
) -> None:
    response = api.post("/comms/bulk", json=body, headers=staff.headers)
    assert response.status_code == 422, response.text
    assert list(response.json()["error"]["fields"]) == [field]


def _template(db: Session, *, phi: bool, body: str = "Hello {{ client.first_name }}") -> Template:
    template = Template(
        name=f"t-{phi}-{len(body)}",
        channel="sms",
        body=body,
        variables=[{"name": "client.first_name", "phi": phi}, {"name": "office", "phi": False}],
    )
    db.add(template)
    db.flush()
    return template


def test_template_renders_with_declared_variables(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(db, phi=False, body="Reminder from {{ office }}. Please call us.")
    response = _send(
        api, staff, client_id=client.id, template_id=template.id, variables={"office": "Lakeside"}
    )
    assert response.status_code == 202, response.text
    comm = db.get(Communication, response.json()["communication"]["id"])
    assert comm is not None
    assert comm.body == "Reminder from Lakeside. Please call us."


@pytest.mark.parametrize(
    ("variables", "field"),
    [({"office": "x", "colour": "blue"}, "variables.colour"), ({}, "variables.office")],
)
def test_template_variable_problems_name_the_variable(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    variables: dict[str, str],
    field: str,
) -> None:
    template = _template(db, phi=False, body="From {{ office }}")
    response = _send(api, staff, client_id=client.id, template_id=template.id, variables=variables)
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    assert _count(db, Communication) == 0


def test_template_with_phi_variables_is_refused_without_a_baa(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(db, phi=True)
    response = _send(
        api, staff, client_id=client.id, template_id=template.id, variables={"office": "x"}
    )
    assert response.status_code == 422
    assert "client.first_name" in response.json()["error"]["fields"]["template_id"]
    assert _count(db, Communication) == 0


def test_bulk_refuses_unknown_clients_and_queues_a_campaign(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    refused = api.post(
        "/comms/bulk",
        json={"type": "sms", "client_ids": [client.id, "f" * 32], "body": "Office closed Monday."},
        headers=staff.headers,
    )
    assert refused.status_code == 422
    assert "1 unknown" in refused.json()["error"]["fields"]["client_ids"]

    accepted = api.post(
        "/comms/bulk",
        json={"type": "sms", "client_ids": [client.id], "body": "Office closed Monday."},
        headers=staff.headers,
    )
    assert accepted.status_code == 202
    campaign = accepted.json()["campaign"]
    assert campaign["total"] == 1
    assert any(t.name == "comms.fan_out_campaign" for t in huey.pending())
    got = api.get(f"/campaigns/{campaign['id']}", headers=staff.headers)
    assert got.json()["campaign"]["id"] == campaign["id"]
