"""Webhook requests refused in numbers: once the refusals within a window reach the threshold,
each active admin gets one email for that window, saying how many, from which providers' hooks
and when; below it, nothing; the next window alerts again."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.factories import create_user
from tests.notices.conftest import MONDAY, notice_audits, notices_sent, run_notices

THRESHOLD = 5
FORGED_FROM = "+12025550187"
FORGED_BODY = "Jordan here, I need to talk"


@pytest.fixture
def alerting(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_failure_alert_threshold": THRESHOLD,
            "webhook_failure_alert_window_minutes": 15,
        }
    )


@pytest.fixture
def admins(db: Session) -> list[str]:
    """Two active admins' addresses; an admin whose account is closed and a clinician, not told."""
    create_user(db, role="admin", email="closed.admin@clinic.example.com").is_active = False
    create_user(db, role="clinician", email="clinician@clinic.example.com")
    return [
        create_user(db, role="admin", email=f"admin{n}@clinic.example.com").email for n in (1, 2)
    ]


def _forged_twilio(api: TestClient, hook: str = "inbound") -> None:
    params = {"MessageSid": "SM" + "f" * 32, "From": FORGED_FROM, "Body": FORGED_BODY}
    answer = api.post(
        f"/webhooks/twilio/{hook}",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
        },
    )
    assert answer.status_code == 403, answer.text


def _forged_sendgrid(api: TestClient) -> None:
    answer = api.post(
        "/webhooks/sendgrid/events",
        content=b'[{"email": "jordan@example.com", "event": "delivered"}]',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 403, answer.text


def test_refusals_reaching_the_threshold_alert_each_active_admin_once(
    api: TestClient,
    db: Session,
    factory: sessionmaker[Session],
    alerting: Settings,
    admins: list[str],
) -> None:
    with set_clock(MONDAY + timedelta(minutes=2)) as clock:  # the window 12:00-12:15 UTC
        for _ in range(3):
            _forged_twilio(api)
        _forged_sendgrid(api)
        run_notices(factory, alerting)
        assert notices_sent(db) == []  # 4: below the threshold

        clock.advance(timedelta(minutes=1))
        _forged_sendgrid(api)
        run_notices(factory, alerting)
        clock.advance(timedelta(minutes=1))
        _forged_twilio(api)  # more in the same window: no second alert
        run_notices(factory, alerting)
    sent = notices_sent(db)
    assert sorted(note.to_address for note in sent) == admins
    note = sent[0]
    assert note.subject == "Pro IRP refused 5 webhook requests within 15 minutes"
    assert note.body is not None
    assert "between 14 January 2030, 06:00 CST and 14 January 2030, 06:15 CST" in note.body
    assert "  sendgrid / events: 2\n  twilio / inbound: 3\n" in note.body
    assert f"{alerting.base_url}/app/audit?action=WEBHOOK_REJECTED" in note.body
    for private in (FORGED_FROM, "2025550187", "Jordan", "jordan@example.com", "testclient"):
        assert private not in note.body
    audits = notice_audits(db, "webhook_failures")
    assert len(audits) == 2 and {a["refused"] for a in audits} == {5}
    assert {a["window_start"] for a in audits} == {MONDAY.isoformat()}


def test_a_new_window_alerts_again_and_one_below_the_threshold_does_not(
    api: TestClient,
    db: Session,
    factory: sessionmaker[Session],
    alerting: Settings,
    admins: list[str],
) -> None:
    with set_clock(MONDAY + timedelta(minutes=1)) as clock:
        for _ in range(THRESHOLD):
            _forged_twilio(api, "status")
        run_notices(factory, alerting)
        assert len(notices_sent(db)) == 2

        clock.advance(timedelta(minutes=15))  # 12:16: the next window
        for _ in range(THRESHOLD - 1):
            _forged_twilio(api, "status")
        run_notices(factory, alerting)
        assert len(notices_sent(db)) == 2  # the first window's alone reached the threshold

        clock.advance(timedelta(minutes=15))  # 12:31: the one after
        for _ in range(THRESHOLD):
            _forged_twilio(api, "status")
        run_notices(factory, alerting)
    sent = notices_sent(db)
    assert len(sent) == 4
    assert "06:30 CST and 14 January 2030, 06:45 CST" in (sent[-1].body or "")


def test_refusals_in_a_windows_last_minute_alert_after_it_has_ended(
    api: TestClient,
    db: Session,
    factory: sessionmaker[Session],
    alerting: Settings,
    admins: list[str],
) -> None:
    with set_clock(MONDAY + timedelta(minutes=14, seconds=30)) as clock:
        run_notices(factory, alerting)
        for _ in range(THRESHOLD):
            _forged_twilio(api)
        clock.advance(timedelta(minutes=1))  # 12:15:30: the next run is in the next window
        run_notices(factory, alerting)
        run_notices(factory, alerting)
    sent = notices_sent(db)
    assert len(sent) == 2
    assert "06:00 CST and 14 January 2030, 06:15 CST" in (sent[0].body or "")


def test_nobody_is_alerted_without_refusals(
    db: Session, factory: sessionmaker[Session], alerting: Settings, admins: list[str]
) -> None:
    with set_clock(MONDAY):
        run_notices(factory, alerting)
    assert notices_sent(db) == []


def test_the_settings_default_to_twenty_in_fifteen_minutes(settings: Settings) -> None:
    assert settings.webhook_failure_alert_threshold == 20
    assert settings.webhook_failure_alert_window_minutes == 15
