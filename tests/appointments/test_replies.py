"""C and R replies through the real /webhooks/twilio/inbound route, beside Twilio's keywords."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.clients.models import Channel, Client, OptOut
from proirp.clients.repository import active_opt_outs
from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.appointments.conftest import MONDAY, appointment, sms_client

START = MONDAY + timedelta(days=1, hours=4)


def _inbound(api: TestClient, settings: Settings, phone: str, body: str) -> Any:
    path = "/webhooks/twilio/inbound"
    # Each text is a new message to Twilio: a sid of its own (a repeated one is a retry).
    params = {"From": phone, "To": "+15005550006", "Body": body, "MessageSid": "SM" + uuid4().hex}
    token = settings.twilio_connection().auth_token
    signature = RequestValidator(token).compute_signature(settings.base_url + path, params)
    answer = api.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer


def _actions(db: Session, client: Client) -> list[str]:
    stmt = select(AuditLog.action).where(AuditLog.client_id == client.id).order_by(AuditLog.id)
    return list(db.scalars(stmt))


def _opted_out(db: Session, client: Client) -> bool:
    return bool(active_opt_outs(db, Channel.SMS, client.phone or ""))


@pytest.mark.parametrize(
    ("word", "state", "answered"),
    [
        ("C", "confirmed", "confirmed"),
        (" confirm ", "confirmed", "confirmed"),
        ("r", "needs_attention", "new time"),
        ("RESCHEDULE", "needs_attention", "new time"),
    ],
)
def test_c_and_r_change_the_next_appointment_and_are_answered(
    api: TestClient,
    db: Session,
    clinician: User,
    settings: Settings,
    word: str,
    state: str,
    answered: str,
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        nearest = appointment(db, client, clinician, START)
        later = appointment(db, client, clinician, START + timedelta(days=7))
        answer = _inbound(api, settings, str(client.phone), word)
    db.expire_all()
    assert (nearest.state, later.state) == (state, "scheduled")
    assert answered in answer.text
    expected = "APPOINTMENT_CONFIRMED" if state == "confirmed" else "APPOINTMENT_NEEDS_ATTENTION"
    assert expected in _actions(db, client)


def test_yes_confirms_and_still_opts_in(
    api: TestClient, db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        db.add(OptOut(channel="sms", address=client.phone, reason="replied STOP", source="test"))
        appt = appointment(db, client, clinician, START)
        answer = _inbound(api, settings, str(client.phone), "YES")
    db.expire_all()
    assert appt.state == "confirmed"
    assert not _opted_out(db, client)
    assert "<Message>" not in answer.text  # Twilio answers its own opt-in word
    assert {"SMS_OPT_IN", "APPOINTMENT_CONFIRMED"} <= set(_actions(db, client))


def test_cancel_still_opts_out_and_asks_the_office_to_call(
    api: TestClient, db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        answer = _inbound(api, settings, str(client.phone), "cancel")
    db.expire_all()
    assert appt.state == "needs_attention"  # never cancelled at the provider
    assert _opted_out(db, client)
    assert "<Message>" not in answer.text


def test_stop_and_help_keep_precedence(
    api: TestClient, db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        help_answer = _inbound(api, settings, str(client.phone), "HELP")
        _inbound(api, settings, str(client.phone), "STOP")
    db.expire_all()
    assert "help" in help_answer.text.lower()
    assert appt.state == "scheduled" and _opted_out(db, client)


def test_without_an_upcoming_appointment_c_is_any_other_message(
    api: TestClient, db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        past = appointment(db, client, clinician, MONDAY - timedelta(days=1))
        answer = _inbound(api, settings, str(client.phone), "C")
    db.expire_all()
    assert past.state == "scheduled"
    assert "<Message>" not in answer.text
    # Received like any other text (outside office hours the after-hours reply follows it).
    assert _actions(db, client)[0] == "SMS_RECEIVED"
    assert "APPOINTMENT_CONFIRMED" not in _actions(db, client)
