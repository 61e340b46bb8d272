"""Provider webhooks whose fields hold a NUL character or more than the product keeps, correctly
signed and posted over HTTP: never a 500, on SQLite or PostgreSQL. An identifier that does not
fit is refused (a cut one could name another message); a code that does not fit is left out and
the rest of the event applied; a bad event never costs the good ones of its batch."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from proirp.audit.models import AuditLog
from proirp.clients.models import Client, OptOut
from proirp.comms.models import Communication, CommunicationEvent
from proirp.comms.sms.intake import drain_batch
from proirp.comms.sms.status import EVENT_ID_PREFIX, MAX_SID, MAX_STATUS
from proirp.config import Settings
from proirp.kit.input import column_width
from tests.comms.test_email_events import ADDRESS, event, post_events
from tests.factories import Staff, create_client

SID = "SM" + "a" * 32


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, email=ADDRESS)
    row.email_consent = True
    db.flush()
    return row


def _message(db: Session, client: Client, staff: Staff, channel: str) -> Communication:
    sms = channel == "sms"
    comm = Communication(
        client_id=client.id,
        user_id=staff.user.id,
        channel=channel,
        to_address=client.phone if sms else ADDRESS,
        subject=None if sms else "Hello",
        body="Please call our office.",
        provider="twilio" if sms else "sendgrid",
        provider_message_id=SID if sms else "msgid123",
        status="sent",
    )
    db.add(comm)
    db.flush()
    return comm


def _twilio(
    api: TestClient, settings: Settings, hook: str, params: dict[str, str], query: str = ""
) -> Any:
    path = f"/webhooks/twilio/{hook}" + (f"?{query}" if query else "")
    token = settings.twilio_connection().auth_token
    signature = RequestValidator(token).compute_signature(settings.base_url + path, params)
    return api.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def _rejections(db: Session) -> list[dict[str, Any]]:
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "WEBHOOK_REJECTED"))
    return [dict(row.details) for row in rows]


@pytest.mark.parametrize(
    "code", ["3" * 40, "30003\x00", "not-a-code", "9" * 5000], ids=["long", "nul", "text", "huge"]
)
def test_a_twilio_callback_with_a_malformed_error_code_is_applied_without_it(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff, code: str
) -> None:
    comm = _message(db, client, staff, "sms")
    params = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": code}
    answer = _twilio(api, settings, "status", params, f"ref={comm.id}")
    assert answer.status_code == 204, answer.text
    drain_batch(db)  # what the worker's loop does within a second
    db.refresh(comm)
    assert (comm.status, comm.error_code) == ("undelivered", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MessageSid", "SM" + "a" * 200),
        ("MessageSid", "SM\x00" + "a" * 31),
        ("MessageStatus", "delivered" * 10),
        ("MessageStatus", "delivered\x00"),
    ],
)
def test_a_twilio_callback_with_a_malformed_identifier_is_refused_naming_it(
    api: TestClient,
    db: Session,
    settings: Settings,
    client: Client,
    staff: Staff,
    field: str,
    value: str,
) -> None:
    comm = _message(db, client, staff, "sms")
    params = {"MessageSid": SID, "MessageStatus": "delivered", field: value}
    answer = _twilio(api, settings, "status", params, f"ref={comm.id}")
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["fields"]
    assert drain_batch(db) == 0  # nothing was kept to be applied
    db.refresh(comm)
    assert comm.status == "sent"
    assert [r["reason"] for r in _rejections(db)] == [f"malformed field: {field}"]


def test_a_nul_in_a_twilio_callback_reference_is_refused(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    _message(db, client, staff, "sms")
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    answer = _twilio(api, settings, "status", params, "ref=a%00b")
    assert answer.status_code == 422
    assert "ref" in answer.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "+1" + "2" * 400), ("From", "+1202555\x000143"), ("Body", "STOP\x00")],
)
def test_an_inbound_sms_with_a_malformed_field_is_refused_naming_it(
    api: TestClient, db: Session, settings: Settings, field: str, value: str
) -> None:
    params = {"MessageSid": SID, "From": "+12025550143", "Body": "STOP", field: value}
    answer = _twilio(api, settings, "inbound", params)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["fields"]
    assert db.scalars(select(OptOut)).all() == []


def test_malformed_sendgrid_events_are_skipped_and_the_rest_of_the_batch_applies(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _message(db, client, staff, "email")
    other = _message(db, client, staff, "email")
    batch = [
        event(comm, "bounce", email="x" * 400 + "@example.com", type="bounce"),
        event(comm, "bounce", email="avery.quinn\x00@example.com", type="bounce"),
        event(comm, "delivered", sg_event_id="e" * 200),
        event(comm, "delivered", sg_event_id="evt\x00"),
        event(comm, "delivered", communication_id="c\x00"),
        event(comm, "delivered", sg_message_id="m" * 300),
        event(comm, "delivered" * 5),
        event(comm, "delivered", sg_event_id=12345),
        event(other, "bounce", type="bounce", status="5." + "1" * 50, reason="x\x00" * 300),
        event(comm, "delivered"),
    ]
    answer = post_events(api, batch)
    assert answer.status_code == 204, answer.text
    db.refresh(comm)
    db.refresh(other)
    assert comm.status == "delivered"
    assert (other.status, other.error_code) == ("undelivered", "bounce")  # its status left out
    suppressed = db.scalars(select(OptOut.address).where(OptOut.channel == "email")).all()
    assert suppressed == [ADDRESS]  # the good bounce's; the malformed addresses never
    rejected = _rejections(db)
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "8 malformed events skipped"
    assert rejected[0]["fields"] == [
        "communication_id",
        "email",
        "event",
        "sg_event_id",
        "sg_message_id",
    ]
    assert ADDRESS not in json.dumps(rejected)


def test_what_a_twilio_callback_names_fits_where_it_is_kept() -> None:
    event_id = len(EVENT_ID_PREFIX) + MAX_SID + len(":") + MAX_STATUS
    assert event_id <= column_width(CommunicationEvent.provider_event_id)
    assert column_width(Communication.provider_message_id) >= MAX_SID
