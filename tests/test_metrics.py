"""GET /metrics in-process: off is a 404, METRICS_TOKEN guards it, and what operators read there
follows what the product does (messages, the queue, calendars, refused webhooks, audit rows,
provider calls), with no PHI in it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.chainer import chain_within
from proirp.audit.service import record_audit
from proirp.auth.models import User
from proirp.calendars import sync_status
from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus
from proirp.clients.models import Client
from proirp.comms.models import Communication, StatusIntake
from proirp.config import Settings
from proirp.integrations.base import (
    ProviderAmbiguousError,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.integrations.observed import provider_call
from proirp.kit.time import utcnow
from proirp.metrics import shared_gauges
from tests.comms.rows import own_database
from tests.factories import Staff, create_client, create_staff, create_user

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def metrics_on(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setattr(settings, "metrics_enabled", True)
    shared_gauges.expire()  # read the database again at the next scrape
    yield settings
    shared_gauges.expire()


@pytest.fixture
def staff(db: Session) -> Staff:
    return create_staff(db, role="staff")


def scrape(api: TestClient, headers: dict[str, str] | None = None) -> str:
    shared_gauges.expire()
    response = api.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition's text, or None if it is not there."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_off_it_is_a_404_like_any_path_not_served(api: TestClient) -> None:
    off = api.get("/metrics")
    unknown = api.get("/no-such-path")
    assert off.status_code == unknown.status_code == 404
    assert off.json() == unknown.json()
    assert off.json()["error"]["code"] == "not_found"


def test_on_without_a_token_it_serves_the_exposition(api: TestClient, metrics_on: Settings) -> None:
    text = scrape(api)
    for name in (
        "proirp_messages",
        "proirp_queue_depth",
        "proirp_queue_scheduled",
        "proirp_queue_oldest_message_age_seconds",
        "proirp_status_intake_backlog",
        "proirp_calendars",
        "proirp_calendar_sync_lag_seconds",
        "proirp_audit_rows_appended_total",
    ):
        assert f"# HELP {name} " in text, name
    assert sample(text, "proirp_metrics_source_up", source="database") == 1.0
    assert sample(text, "proirp_metrics_source_up", source="queue") == 1.0
    assert sample(text, "proirp_messages", channel="email", status="cancelled") is not None
    # The answer is still one of the product's: its security headers, no caching.
    response = api.get("/metrics")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
    ids=["missing", "wrong", "not bearer", "longer", "empty"],
)
def test_with_a_token_anything_but_it_is_a_401(
    api: TestClient, metrics_on: Settings, monkeypatch: pytest.MonkeyPatch, authorization: str
) -> None:
    monkeypatch.setattr(metrics_on, "metrics_token", SecretStr(TOKEN))
    headers = {"Authorization": authorization} if authorization else None
    response = api.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


def test_with_a_token_the_right_one_is_served(
    api: TestClient, metrics_on: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_on, "metrics_token", SecretStr(TOKEN))
    assert "proirp_messages" in scrape(api, {"Authorization": f"Bearer {TOKEN}"})


def test_a_staff_session_is_not_a_metrics_token(
    api: TestClient, metrics_on: Settings, monkeypatch: pytest.MonkeyPatch, staff: Staff
) -> None:
    monkeypatch.setattr(metrics_on, "metrics_token", SecretStr(TOKEN))
    assert api.get("/metrics", headers=staff.headers).status_code == 401


def _send_sms(api: TestClient, staff: Staff, client: Client, body: str) -> str:
    response = api.post(
        "/comms",
        json={"type": "sms", "client_id": client.id, "body": body},
        headers=staff.headers,
    )
    assert response.status_code == 202, response.text
    comm_id: str = response.json()["communication"]["id"]
    return comm_id


def _sms_client(db: Session, **fields: str) -> Client:
    client = create_client(db, **fields)
    client.sms_consent = True
    db.flush()
    return client


def test_a_queued_message_shows_under_its_channel_and_status_and_its_wait(
    api: TestClient, db: Session, metrics_on: Settings, staff: Staff
) -> None:
    before = sample(scrape(api), "proirp_messages", channel="sms", status="queued") or 0.0
    audit_rows = counted("proirp_audit_rows_appended_total")
    comm_id = _send_sms(api, staff, _sms_client(db), "Please call our office.")
    assert counted("proirp_audit_rows_appended_total") >= audit_rows + 1  # SMS_QUEUED
    # The message has waited ten minutes for a worker.
    message = db.get(Communication, comm_id)
    assert message is not None
    message.created_at = utcnow() - timedelta(minutes=10)
    db.flush()
    text = scrape(api)
    assert sample(text, "proirp_messages", channel="sms", status="queued") == before + 1
    assert (sample(text, "proirp_queue_oldest_message_age_seconds") or 0) >= 600


def test_status_callbacks_waiting_to_be_applied_are_counted(
    api: TestClient, db: Session, metrics_on: Settings
) -> None:
    before = sample(scrape(api), "proirp_status_intake_backlog") or 0.0
    now = utcnow()
    for status in ("sent", "delivered"):
        db.add(
            StatusIntake(
                provider="twilio",
                provider_message_id="SM" + "c" * 32,
                provider_status=status,
                received_at=now,
                due_at=now,
                attempts=0,
            )
        )
    db.flush()
    assert sample(scrape(api), "proirp_status_intake_backlog") == before + 2


def test_a_message_scheduled_for_later_is_not_waiting(
    api: TestClient, db: Session, metrics_on: Settings, staff: Staff
) -> None:
    db.query(Communication).filter(Communication.status == "queued").update({"status": "failed"})
    response = api.post(
        "/comms",
        json={
            "type": "sms",
            "client_id": _sms_client(db).id,
            "body": "Please call our office.",
            "send_at": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=staff.headers,
    )
    assert response.status_code == 202, response.text
    assert sample(scrape(api), "proirp_queue_oldest_message_age_seconds") == 0.0


def test_the_database_gauges_are_read_at_most_every_fifteen_seconds(
    api: TestClient, db: Session, metrics_on: Settings, staff: Staff
) -> None:
    first = sample(scrape(api), "proirp_messages", channel="sms", status="queued") or 0.0
    _send_sms(api, staff, _sms_client(db), "Please call our office.")
    cached = api.get("/metrics").text  # within MAX_AGE_SECONDS: the same reading
    assert sample(cached, "proirp_messages", channel="sms", status="queued") == first
    assert sample(scrape(api), "proirp_messages", channel="sms", status="queued") == first + 1


def test_a_refused_webhook_is_counted_by_source_and_reason(
    api: TestClient, metrics_on: Settings
) -> None:
    labels = {"source": "twilio/status", "reason": "bad_signature"}
    before = counted("proirp_webhook_rejections_total", **labels)
    response = api.post(
        "/webhooks/twilio/status",
        data={"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert response.status_code == 403
    assert counted("proirp_webhook_rejections_total", **labels) == before + 1
    assert sample(scrape(api), "proirp_webhook_rejections_total", **labels) == before + 1


def _calendar(db: Session, provider: str, status: CalendarSyncStatus | None) -> None:
    user = create_user(db)
    integration = CalendarIntegration(user_id=user.id, provider=provider, status="active")
    db.add(integration)
    db.flush()
    if status is not None:
        status.integration_id = integration.id
        db.add(status)
        db.flush()


def test_calendars_by_provider_and_state_and_the_sync_lag(
    api: TestClient, db: Session, metrics_on: Settings
) -> None:
    now = utcnow()
    before = scrape(api)
    _calendar(db, "google", CalendarSyncStatus(last_success_at=now - timedelta(hours=2)))
    _calendar(
        db,
        "google",
        CalendarSyncStatus(last_success_at=now - timedelta(hours=3), last_error="timed out"),
    )
    _calendar(db, "microsoft", None)  # its first sync is on its way
    text = scrape(api)

    def grew(provider: str, state: str) -> float:
        labels = {"provider": provider, "state": state}
        return (sample(text, "proirp_calendars", **labels) or 0) - (
            sample(before, "proirp_calendars", **labels) or 0
        )

    assert grew("google", "ok") == 1
    assert grew("google", "error") == 1
    assert grew("microsoft", "syncing") == 1
    lag = sample(text, "proirp_calendar_sync_lag_seconds", provider="google") or 0
    assert lag >= 3 * 3600


def test_a_failed_sync_is_counted_by_provider(tmp_path: Path) -> None:
    with own_database(tmp_path) as factory:
        integration_id = _integration_of_its_own(factory)
        before = counted("proirp_calendar_sync_failures_total", provider="microsoft")
        error = ProviderTemporaryError("microsoft", "503", "Graph is unavailable")
        sync_status.failed(factory, integration_id, error)
        assert counted("proirp_calendar_sync_failures_total", provider="microsoft") == before + 1


def _integration_of_its_own(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        user = User(email="clinician@clinic.example.com", role="clinician", password_hash="x")
        session.add(user)
        session.flush()
        integration = CalendarIntegration(user_id=user.id, provider="microsoft")
        session.add(integration)
        session.commit()
        return integration.id


def test_provider_calls_are_timed_and_failures_counted_by_code() -> None:
    def failing(exc: Exception) -> None:
        with provider_call("twilio", "send"):
            raise exc

    cases = [
        (ProviderPermanentError("twilio", "21211", "invalid number"), "21211"),
        (ProviderTemporaryError("twilio", None, "unreachable"), "unreachable"),
        (ProviderAmbiguousError("twilio", None, "no answer"), "no_answer"),
        (ProviderPermanentError("twilio", "+1 (202) 555-0143", "odd"), "other"),
        (ValueError("ours"), "internal"),
    ]
    for exc, code in cases:
        before = counted("proirp_provider_errors_total", provider="twilio", code=code)
        calls = counted("proirp_provider_call_seconds_count", provider="twilio", operation="send")
        with pytest.raises(type(exc)):
            failing(exc)
        assert counted("proirp_provider_errors_total", provider="twilio", code=code) == before + 1
        after = counted("proirp_provider_call_seconds_count", provider="twilio", operation="send")
        assert after == calls + 1


def test_no_phi_in_any_label_or_value(
    api: TestClient, db: Session, metrics_on: Settings, staff: Staff
) -> None:
    client = _sms_client(
        db,
        first_name="Zebediah",
        last_name="Quillfeather",
        phone="+12025550187",
        email="zebediah.quillfeather@example.com",
    )
    body = "Marmalade umbrella nine"
    _send_sms(api, staff, client, body)
    text = scrape(api)
    for value in (
        "Zebediah",
        "Quillfeather",
        "2025550187",
        "zebediah.quillfeather",
        "Marmalade",
        client.id,
        staff.token,
    ):
        assert value not in text, value


def test_the_audit_rows_waiting_for_the_chainer_are_counted(
    api: TestClient, db: Session, metrics_on: Settings
) -> None:
    chain_within(db)
    db.commit()
    assert sample(scrape(api), "proirp_audit_rows_unchained") == 0.0

    record_audit(db, actor=None, action=AuditAction.CLIENT_VIEWED)
    record_audit(db, actor=None, action=AuditAction.CLIENT_VIEWED)
    db.commit()
    text = scrape(api)

    assert sample(text, "proirp_audit_rows_unchained") == 2.0
    assert (sample(text, "proirp_audit_oldest_unchained_age_seconds") or -1) >= 0.0
