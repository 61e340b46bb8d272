"""POST /comms and /comms/bulk for email, in-process: queued, blocked, or refused as bad input."""

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
from tests.factories import Staff, create_client

DYNAMIC_ID = "d-" + "a1" * 16


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, email="Avery.Quinn@Example.com")
    row.email_consent = True
    db.flush()
    return row


def _send(api: TestClient, staff: Staff, **body: Any) -> Any:
    return api.post("/comms", json={"type": "email", **body}, headers=staff.headers)


def _count(db: Session, model: Any, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _pending_batches() -> list[list[str]]:
    return [t.args[0] for t in huey.pending() if t.name == "comms.deliver_email_batch"]


def _template(db: Session, **fields: Any) -> Template:
    values: dict[str, Any] = {
        "name": f"t{_count(db, Template)}",
        "channel": "email",
        "subject": "News from {{ practice.name }}",
        "body": "Hello from {{ practice.name }}.",
        "variables": [{"name": "practice.name", "phi": False}],
    }
    values.update(fields)
    row = Template(**values)
    db.add(row)
    db.flush()
    return row


def test_an_email_is_queued_with_encrypted_content_and_audited(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = _send(
        api,
        staff,
        client_id=client.id,
        subject="Office closed Friday",
        body="Our office is closed on Friday.",
        html="<p>Our office is <b>closed</b> on Friday.</p>",
    )
    assert response.status_code == 202, response.text
    comm = response.json()["communication"]
    assert (comm["type"], comm["status"], comm["provider"]) == ("email", "queued", "sendgrid")
    assert comm["to"] == "Avery.Quinn@example.com"  # normalised by email-validator
    row = db.execute(
        text("SELECT subject, body, body_html FROM communications WHERE id = :id"),
        {"id": comm["id"]},
    ).one()
    assert all("closed" not in str(value) for value in row)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "EMAIL_QUEUED")).one()
    assert audit.client_id == client.id
    assert "closed" not in str(audit.details) and "Avery" not in str(audit.details)
    assert [comm["id"]] in _pending_batches()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "Hello"}, "subject"),
        ({"subject": "Hi", "body": " "}, "body"),
        ({"subject": "Hi", "html": "<p>Hello <b>there</p>"}, "html"),
        ({"subject": "Two\nlines", "body": "Hello"}, "subject"),
        ({"template_id": "nope"}, "template_id"),
        ({"template_id": DYNAMIC_ID}, "template_id"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    api: TestClient, db: Session, staff: Staff, client: Client, body: dict[str, str], field: str
) -> None:
    response = _send(api, staff, client_id=client.id, **body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert _count(db, Communication) == 0


def test_a_client_without_a_valid_address_is_refused(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    client.email = "not-an-address"
    db.flush()
    response = _send(api, staff, client_id=client.id, subject="Hi", body="Hello")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"client_id": "is not a valid email address"}
    assert "not-an-address" not in response.text


def test_an_sms_template_cannot_be_used_for_email(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(db, channel="sms", subject=None)
    response = _send(api, staff, client_id=client.id, template_id=template.id)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["template_id"] == "is not an email template"


@pytest.mark.parametrize("reason", ["no_consent", "suppressed"])
def test_blocked_recipients_get_a_blocked_row_and_an_audit_entry(
    api: TestClient, db: Session, staff: Staff, client: Client, reason: str
) -> None:
    if reason == "no_consent":
        client.email_consent = False
    else:
        db.add(
            OptOut(
                channel="email",
                address="avery.quinn@example.com",
                reason="The address bounced.",
                source="email_event",
            )
        )
    db.flush()
    response = _send(api, staff, client_id=client.id, subject="Hi", body="Please call us.")
    assert response.status_code == 422
    comm = response.json()["communication"]
    assert comm["status"] == "blocked"
    expected = "consented" if reason == "no_consent" else "suppression list: The address bounced."
    assert expected in comm["status_reason"]
    assert _count(db, AuditLog, AuditLog.action == "EMAIL_BLOCKED") == 1
    assert [comm["id"]] not in _pending_batches()


def test_free_text_with_phi_is_blocked_without_a_baa(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = _send(
        api, staff, client_id=client.id, subject="Hello Avery", body="Your therapy is at 3pm."
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert "BAA with SendGrid" in error["message"]
    assert "client's name" in error["message"] and "clinical" in error["message"]
    assert "Avery" not in error["message"] and "3pm" not in error["message"]
    assert response.json()["communication"]["status"] == "blocked"


def test_with_a_baa_the_same_email_is_queued(
    api: TestClient, db: Session, staff: Staff, client: Client, settings: Settings
) -> None:
    settings.sendgrid_hipaa_enabled = True
    try:
        response = _send(
            api, staff, client_id=client.id, subject="Hello Avery", body="Your therapy is at 3pm."
        )
    finally:
        settings.sendgrid_hipaa_enabled = False
    assert response.status_code == 202


def test_a_template_with_phi_variables_is_refused_before_it_renders(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(
        db,
        subject="Hi {{ client.first_name }}",
        # Would fail to render (undeclared variable): the PHI check must come first.
        body="Hello {{ client.first_name }} {{ missing }}",
        variables=[{"name": "client.first_name", "phi": True}],
    )
    response = _send(api, staff, client_id=client.id, template_id=template.id)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["template_id"] == (
        "uses PHI variables: client.first_name"
    )
    assert _count(db, Communication) == 0


def test_a_template_renders_and_a_missing_variable_is_an_error(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(
        db,
        body="Hello from {{ practice.name }}. Your code: {{ code }}",
        variables=[{"name": "practice.name", "phi": False}, {"name": "code", "phi": False}],
    )
    missing = _send(api, staff, client_id=client.id, template_id=template.id)
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"] == {"variables.code": "is required by the template"}
    ok = _send(api, staff, client_id=client.id, template_id=template.id, variables={"code": "7"})
    assert ok.status_code == 202, ok.text
    row = db.get(Communication, ok.json()["communication"]["id"])
    assert row is not None
    assert row.body == "Hello from Pro IRP. Your code: 7"
    assert row.subject == "News from Pro IRP"


def test_a_dynamic_template_is_found_by_its_sendgrid_id(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(db, sendgrid_template_id=DYNAMIC_ID, subject=None, body="")
    response = _send(api, staff, client_id=client.id, template_id=DYNAMIC_ID)
    assert response.status_code == 202, response.text
    row = db.get(Communication, response.json()["communication"]["id"])
    assert row is not None and row.template_id == template.id
    assert row.substitutions is not None and "Pro IRP" in row.substitutions


def test_an_email_campaign_is_accepted_and_fanned_out_by_the_worker(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = api.post(
        "/comms/bulk",
        json={
            "type": "email",
            "client_ids": [client.id],
            "subject": "Office closed Friday",
            "body": "Our office is closed on Friday.",
        },
        headers=staff.headers,
    )
    assert response.status_code == 202, response.text
    campaign_id = response.json()["campaign"]["id"]
    assert response.json()["campaign"]["type"] == "email"
    assert any(
        t.name == "comms.fan_out_campaign" and t.args == (campaign_id,) for t in huey.pending()
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "No subject"}, "subject"),
        ({"subject": "Hi", "html": "<div>unclosed"}, "html"),
        ({"template_id": "nope"}, "template_id"),
    ],
)
def test_a_campaign_with_bad_input_is_refused(
    api: TestClient, db: Session, staff: Staff, client: Client, body: dict[str, str], field: str
) -> None:
    response = api.post(
        "/comms/bulk",
        json={"type": "email", "client_ids": [client.id], **body},
        headers=staff.headers,
    )
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]


def test_a_campaign_template_may_use_only_what_the_product_knows(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(
        db,
        body="Your code: {{ code }}",
        variables=[{"name": "code", "phi": False}],
    )
    response = api.post(
        "/comms/bulk",
        json={"type": "email", "client_ids": [client.id], "template_id": template.id},
        headers=staff.headers,
    )
    assert response.status_code == 422
    assert "code" in response.json()["error"]["fields"]["template_id"]


def test_a_value_the_practice_has_not_set_is_an_error_not_an_empty_hole(
    api: TestClient, db: Session, staff: Staff, client: Client, settings: Settings
) -> None:
    assert settings.practice_phone is None
    template = _template(
        db,
        body="Please call {{ practice.phone }}.",
        variables=[{"name": "practice.phone", "phi": False}],
    )
    response = _send(api, staff, client_id=client.id, template_id=template.id)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "variables.practice.phone": "has no value: set PRACTICE_PHONE"
    }
    campaign = api.post(
        "/comms/bulk",
        json={"type": "email", "client_ids": [client.id], "template_id": template.id},
        headers=staff.headers,
    )
    assert campaign.status_code == 422
    assert "variables.practice.phone" in campaign.json()["error"]["fields"]


def test_a_template_and_a_body_together_are_refused(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _template(db)
    response = _send(
        api, staff, client_id=client.id, template_id=template.id, subject="Hi", body="Hello"
    )
    assert response.status_code == 422
    assert "not both" in response.text


def test_phi_in_the_subject_is_blamed_on_the_subject(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = _send(api, staff, client_id=client.id, subject="For Avery", body="Please call.")
    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["subject"]
    assert "from the subject" in response.json()["error"]["message"]


def test_a_campaign_whose_text_is_phi_for_anybody_is_refused_up_front(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    response = api.post(
        "/comms/bulk",
        json={
            "type": "email",
            "client_ids": [client.id],
            "subject": "Closed",
            "body": "We are closed Dec 24-26.",
        },
        headers=staff.headers,
    )
    assert response.status_code == 422
    assert "a date from the body" in response.json()["error"]["fields"]["body"]
    assert "Dec 24" not in response.text
