"""POST /clients: normalised contact details, consent bookkeeping, and 422s that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.models import Client
from tests.factories import Staff

VALID: dict[str, Any] = {
    "first_name": "Avery",
    "last_name": "Quinn",
    "phone": "(202) 555-0143",
    "email": "Avery.Quinn@Example.COM",
    "date_of_birth": "1985-04-12",
    "timezone": "America/New_York",
    "sms_consent": True,
    "email_consent": False,
    "consent_source": "intake form",
}


def count(db: Session, model: type[Client] | type[AuditLog]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_create_normalises_and_records_consent(api: TestClient, db: Session, staff: Staff) -> None:
    before = datetime.now(UTC)
    response = api.post("/clients", json=VALID, headers=staff.headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ok"] is True
    client = body["client"]
    assert client["phone"] == "+12025550143"
    assert client["email"] == "Avery.Quinn@example.com"  # domain lower-cased, local part kept
    assert client["date_of_birth"] == "1985-04-12"
    assert client["timezone"] == "America/New_York"
    assert client["sms_consent"] is True
    consent_at = datetime.fromisoformat(client["sms_consent_at"])
    assert before - timedelta(seconds=1) <= consent_at <= datetime.now(UTC)
    assert client["consent_source"] == client["sms_consent_source"] == "intake form"
    assert client["email_consent"] is False
    assert client["email_consent_at"] is None and client["email_consent_source"] is None
    assert client["sms_opted_out"] is False and client["email_suppressed"] is False

    row = db.get(Client, client["id"])
    assert row is not None and row.created_by_user_id == staff.user.id
    [audit] = db.scalars(select(AuditLog).where(AuditLog.action == "CLIENT_CREATED")).all()
    assert (audit.client_id, audit.actor_user_id) == (client["id"], staff.user.id)


def test_create_with_only_names_uses_the_practice_timezone(api: TestClient, staff: Staff) -> None:
    response = api.post(
        "/clients", json={"first_name": " Robin ", "last_name": "Hale"}, headers=staff.headers
    )
    assert response.status_code == 201
    client = response.json()["client"]
    assert (client["first_name"], client["timezone"]) == ("Robin", "America/Chicago")
    assert client["phone"] is None and client["email"] is None
    assert client["sms_consent"] is False and client["sms_consent_at"] is None
    assert client["consent_source"] is None


FUTURE = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()

BAD_FIELDS = {
    "invalid phone": ({"phone": "202-555-01"}, "phone"),
    "not a phone": ({"phone": "call me maybe"}, "phone"),
    "invalid email": ({"email": "avery.quinn@"}, "email"),
    "bad date": ({"date_of_birth": "1985-13-45"}, "date_of_birth"),
    "future date of birth": ({"date_of_birth": FUTURE}, "date_of_birth"),
    "bad timezone": ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    "unknown field": ({"nickname": "Ave"}, "nickname"),
    "empty first name": ({"first_name": "   "}, "first_name"),
    "consent without a source": ({"consent_source": None}, "consent_source"),
    "consent source missing": ({"email_consent": True, "consent_source": None}, "consent_source"),
}


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS.values(), ids=list(BAD_FIELDS))
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    api: TestClient, db: Session, staff: Staff, change: dict[str, Any], field: str
) -> None:
    audits = count(db, AuditLog)
    payload = {**VALID, **change}
    payload = {key: value for key, value in payload.items() if value is not None}

    response = api.post("/clients", json=payload, headers=staff.headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert response.json()["ok"] is False
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert count(db, Client) == 0
    assert count(db, AuditLog) == audits


def test_missing_first_name_is_named(api: TestClient, staff: Staff) -> None:
    payload = {key: value for key, value in VALID.items() if key != "first_name"}
    response = api.post("/clients", json=payload, headers=staff.headers)
    assert response.status_code == 422
    assert "first_name" in response.json()["error"]["fields"]


def test_a_body_that_is_not_json_is_a_422(api: TestClient, db: Session, staff: Staff) -> None:
    headers = {**staff.headers, "Content-Type": "application/json"}
    response = api.post("/clients", content=b'{"first_name": "Avery",', headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"] == {"body": "is not valid JSON"}
    assert count(db, Client) == 0


PHI_INPUTS = {
    "phone": ({"phone": "+1 (212) 000-0000"}, ["212", "000-0000", "2120000000"]),
    "email": ({"email": "avery.quinn@@secret-clinic.example"}, ["avery.quinn", "secret-clinic"]),
    "date of birth": ({"date_of_birth": "1985-02-30"}, ["1985"]),
    "timezone": ({"timezone": "Avery/Quinn"}, ["Avery/Quinn"]),
    "first name too long": ({"first_name": "Averyquinn" * 11}, ["Averyquinn"]),
}


@pytest.mark.parametrize(("change", "secrets"), PHI_INPUTS.values(), ids=list(PHI_INPUTS))
def test_errors_never_echo_what_was_submitted(
    api: TestClient, staff: Staff, change: dict[str, Any], secrets: list[str]
) -> None:
    response = api.post("/clients", json={**VALID, **change}, headers=staff.headers)
    assert response.status_code == 422
    text = json.dumps(response.json())
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize(
    ("field", "value"),
    [("sms_consent", 1), ("email_consent", "yes"), ("date_of_birth", 0)],
)
def test_consent_and_birth_date_take_only_what_the_schema_says(
    api: TestClient, db: Session, staff: Staff, field: str, value: object
) -> None:
    response = api.post("/clients", json={**VALID, field: value}, headers=staff.headers)

    assert response.status_code == 422, response.text
    assert set(response.json()["error"]["fields"]) == {field}
    assert count(db, Client) == 0
