"""The push webhooks: Google's channel notifications and Graph's change and lifecycle
notifications, checked against the stored channel (token, clientState, ids), answered at once,
and turned into at most one queued sync per calendar however many arrive (coalescing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.calendars import push_intake
from proirp.calendars.models import CalendarIntegration, CalendarPushChannel
from proirp.calendars.push import secret_hash
from proirp.kit.time import utcnow
from proirp.worker.queue import huey
from tests.factories import Staff, create_staff

TOKEN = "channel-token-of-forty-three-characters-xx"
STATE = "client-state-secret"


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    huey.storage.flush_all()


def _channel(db: Session, user_id: str, provider: str) -> CalendarPushChannel:
    integration = CalendarIntegration(
        user_id=user_id, provider=provider, status="active", access_token="secret-token"
    )
    db.add(integration)
    db.flush()
    row = CalendarPushChannel(
        integration_id=integration.id,
        provider=provider,
        state="active",
        channel_id=f"{provider}-channel-{integration.id}",
        resource_id="resource-1" if provider == "google" else None,
        secret_hash=secret_hash(TOKEN if provider == "google" else STATE),
        expires_at=utcnow() + timedelta(days=6),
    )
    db.add(row)
    db.commit()
    return row


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


def _google_headers(row: CalendarPushChannel, number: int, **changes: str) -> dict[str, str]:
    headers = {
        "X-Goog-Channel-ID": str(row.channel_id),
        "X-Goog-Channel-Token": TOKEN,
        "X-Goog-Resource-ID": "resource-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": str(number),
    }
    headers.update(changes)
    return headers


def _queued(integration_id: str) -> int:
    return sum(
        1
        for task in huey.pending() + huey.scheduled()
        if task.name == push_intake.PUSH_SYNC_JOB and task.args[0] == integration_id
    )


def _requested(db: Session, row: CalendarPushChannel) -> bool:
    db.expire_all()
    fresh = db.get(CalendarPushChannel, row.id)
    return fresh is not None and fresh.sync_requested_at is not None


def test_a_genuine_google_notification_queues_one_sync(
    api: TestClient, db: Session, alice: Staff
) -> None:
    row = _channel(db, alice.user.id, "google")
    answer = api.post("/webhooks/google/calendar", headers=_google_headers(row, 2))
    assert answer.status_code == 200
    assert _requested(db, row) and _queued(row.integration_id) == 1


def test_googles_sync_handshake_queues_nothing(api: TestClient, db: Session, alice: Staff) -> None:
    row = _channel(db, alice.user.id, "google")
    headers = _google_headers(row, 1, **{"X-Goog-Resource-State": "sync"})
    assert api.post("/webhooks/google/calendar", headers=headers).status_code == 200
    assert not _requested(db, row) and _queued(row.integration_id) == 0


def test_fifty_notifications_in_a_burst_are_one_sync(
    api: TestClient, db: Session, alice: Staff
) -> None:
    row = _channel(db, alice.user.id, "google")
    for number in range(2, 52):
        answer = api.post("/webhooks/google/calendar", headers=_google_headers(row, number))
        assert answer.status_code == 200
    assert _queued(row.integration_id) == 1


def test_a_wrong_channel_token_is_refused_and_audited(
    api: TestClient, db: Session, alice: Staff
) -> None:
    row = _channel(db, alice.user.id, "google")
    headers = _google_headers(row, 2, **{"X-Goog-Channel-Token": "not-the-token"})
    answer = api.post("/webhooks/google/calendar", headers=headers)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "bad_signature"
    assert "token" in answer.json()["error"]["message"]
    assert not _requested(db, row) and _queued(row.integration_id) == 0
    audit = db.scalars(
        select(AuditLog).where(AuditLog.action == "WEBHOOK_REJECTED").order_by(AuditLog.id.desc())
    ).first()
    assert audit is not None and "not-the-token" not in str(audit.details)


def test_a_wrong_resource_id_is_refused(api: TestClient, db: Session, alice: Staff) -> None:
    row = _channel(db, alice.user.id, "google")
    headers = _google_headers(row, 2, **{"X-Goog-Resource-ID": "someone-elses"})
    assert api.post("/webhooks/google/calendar", headers=headers).status_code == 403


def test_an_unknown_channel_is_404(api: TestClient, db: Session, alice: Staff) -> None:
    row = _channel(db, alice.user.id, "google")
    headers = _google_headers(row, 2, **{"X-Goog-Channel-ID": "no-such-channel"})
    answer = api.post("/webhooks/google/calendar", headers=headers)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_channel"


def test_a_missing_header_is_named(api: TestClient, db: Session, alice: Staff) -> None:
    row = _channel(db, alice.user.id, "google")
    headers = _google_headers(row, 2)
    del headers["X-Goog-Resource-ID"]
    answer = api.post("/webhooks/google/calendar", headers=headers)
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == ["x-goog-resource-id"]


def test_a_replayed_message_number_is_harmless(
    api: TestClient, db: Session, alice: Staff, settings: object
) -> None:
    row = _channel(db, alice.user.id, "google")
    assert api.post("/webhooks/google/calendar", headers=_google_headers(row, 7)).status_code == 200
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    assert push_intake.take_request(factory, row.integration_id)  # the sync ran
    huey.storage.flush_all()
    for stale in (7, 3):
        again = api.post("/webhooks/google/calendar", headers=_google_headers(row, stale))
        assert again.status_code == 200
    assert not _requested(db, row) and _queued(row.integration_id) == 0


def test_graph_validation_handshake_echoes_the_token_as_text(api: TestClient) -> None:
    token = "Validation: Testing client application reachability <b>x</b>"
    for path in ("/webhooks/microsoft/calendar", "/webhooks/microsoft/calendar/lifecycle"):
        answer = api.post(path, params={"validationToken": token})
        assert answer.status_code == 200
        assert answer.text == token
        assert answer.headers["content-type"].startswith("text/plain")


def _graph_item(row: CalendarPushChannel, **changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "subscriptionId": row.channel_id,
        "clientState": STATE,
        "changeType": "updated",
        "resource": "Users/x/Events/y",
        "resourceData": {"id": "y"},
        "tenantId": "t",
    }
    item.update(changes)
    return item


def test_graph_notifications_are_checked_and_coalesced(
    api: TestClient, db: Session, alice: Staff
) -> None:
    row = _channel(db, alice.user.id, "microsoft")
    for _ in range(50):
        answer = api.post("/webhooks/microsoft/calendar", json={"value": [_graph_item(row)]})
        assert answer.status_code == 202
    assert _queued(row.integration_id) == 1
    wrong = api.post(
        "/webhooks/microsoft/calendar", json={"value": [_graph_item(row, clientState="nope")]}
    )
    assert wrong.status_code == 403
    unknown = api.post(
        "/webhooks/microsoft/calendar",
        json={"value": [_graph_item(row, subscriptionId="00000000-0000-0000-0000-000000000000")]},
    )
    assert unknown.status_code == 404
    malformed = api.post("/webhooks/microsoft/calendar", json={"value": "x"})
    assert malformed.status_code == 400
    assert list(malformed.json()["error"]["fields"]) == ["value"]


@pytest.mark.parametrize(
    "path", ["/webhooks/microsoft/calendar", "/webhooks/microsoft/calendar/lifecycle"]
)
def test_a_graph_body_nested_too_deep_to_parse_is_a_bad_request(api: TestClient, path: str) -> None:
    # Anyone can post here: 100,000 nested arrays (a RecursionError in Python's JSON parser)
    # are a body that is not a notification collection, not a server error.
    body = b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == ["value"]


@pytest.mark.parametrize(
    ("event", "job"),
    [
        ("reauthorizationRequired", "calendars.push_renew"),
        ("subscriptionRemoved", "calendars.push_start"),
        ("missed", push_intake.PUSH_SYNC_JOB),
    ],
)
def test_graph_lifecycle_notifications(
    api: TestClient, db: Session, alice: Staff, event: str, job: str
) -> None:
    row = _channel(db, alice.user.id, "microsoft")
    item = {
        "subscriptionId": row.channel_id,
        "clientState": STATE,
        "lifecycleEvent": event,
        "tenantId": "t",
    }
    answer = api.post("/webhooks/microsoft/calendar/lifecycle", json={"value": [item]})
    assert answer.status_code == 202
    names = [t.name for t in huey.pending() + huey.scheduled() if t.args[0] == row.integration_id]
    assert job in names
    bad = dict(item, lifecycleEvent="somethingElse")
    refused = api.post("/webhooks/microsoft/calendar/lifecycle", json={"value": [bad]})
    assert refused.status_code == 400
