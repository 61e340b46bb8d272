"""The signed Event Webhook and one-click unsubscribe, in-process.

Events are signed here exactly as SendGrid signs them (ECDSA P-256 over timestamp + raw body),
with the provider sandbox's key, whose public half is the product's default in sandbox mode.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.event import listen as event_listen
from sqlalchemy.event import remove as event_remove
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.models import AuditLog
from proirp.audit.verify import verify_chain
from proirp.clients.models import Client, OptOut
from proirp.comms.email.unsubscribe import make_token
from proirp.comms.models import Communication, CommunicationEvent
from proirp.sandbox.config import SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
from proirp.sandbox.sendgrid.signing import sign_payload
from tests.factories import Staff, create_client

ADDRESS = "avery.quinn@example.com"
_serial = iter(range(1_000_000))


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, email=ADDRESS)
    row.email_consent = True
    db.flush()
    return row


def _email(db: Session, client: Client, staff: Staff, status: str = "sent") -> Communication:
    comm = Communication(
        client_id=client.id,
        user_id=staff.user.id,
        channel="email",
        to_address=ADDRESS,
        subject="Hello",
        body="Please call our office.",
        provider="sendgrid",
        provider_message_id="msgid123",
        status=status,
    )
    db.add(comm)
    db.flush()
    return comm


def event(comm: Communication | None, name: str, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "email": ADDRESS,
        "timestamp": int(time.time()),
        "event": name,
        "sg_event_id": f"evt{next(_serial):019d}",
        "sg_message_id": "msgid123.filterdrecv-1",
    }
    if comm is not None:
        value["communication_id"] = comm.id
    value.update(extra)
    return value


def post_events(
    api: TestClient,
    events: list[dict[str, Any]],
    *,
    key: str = SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY,
    age: int = 0,
    tamper: bool = False,
) -> Any:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()) - age)
    signature = sign_payload(body, timestamp, key)
    if tamper:
        body = body.replace(b'"delivered"', b'"bounce"')
    return api.post(
        "/webhooks/sendgrid/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )


def _other_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def _history(db: Session, comm: Communication) -> list[str]:
    stmt = (
        select(CommunicationEvent.status)
        .where(CommunicationEvent.communication_id == comm.id)
        .order_by(CommunicationEvent.created_at, CommunicationEvent.id)
    )
    return list(db.scalars(stmt))


def _audits(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_a_signed_batch_moves_the_message_forward(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    response = post_events(api, [event(comm, "processed"), event(comm, "delivered")])
    assert response.status_code == 204, response.text
    db.refresh(comm)
    assert comm.status == "delivered" and comm.delivered_at is not None
    assert _history(db, comm) == ["sent", "delivered"]
    changed = _audits(db, "EMAIL_STATUS_CHANGED")
    assert [a.details["status"] for a in changed] == ["delivered"]
    assert ADDRESS not in json.dumps([a.details for a in changed])


def test_a_batch_is_applied_with_a_constant_number_of_lookups(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    """A campaign's events come 500 a batch, applied under the writers' turn: one lookup per
    event held the turn (and every SMS send waiting for it) for tens of seconds under load."""
    comms = [_email(db, client, staff) for _ in range(60)]
    batch = [event(comm, name) for comm in comms for name in ("processed", "delivered")]
    db.expunge_all()  # as in a request of its own: no message already in the session
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "advisory" not in statement:
            selects.append(statement)  # reads of rows, not the writers' lock

    connection = db.connection()
    event_listen(connection, "before_cursor_execute", count)
    try:
        assert post_events(api, batch).status_code == 204
    finally:
        event_remove(connection, "before_cursor_execute", count)
    # The events already seen, the messages by our ids, the audit chain's head, and what the
    # request itself reads: a fixed number, not one or more per event.
    assert len(selects) <= 6, "\n".join(selects)
    for comm in comms:
        assert db.get(Communication, comm.id, populate_existing=True).status == "delivered"  # type: ignore[union-attr]
    assert len(_audits(db, "EMAIL_STATUS_CHANGED")) == 60


@pytest.mark.parametrize("how", ["forged", "tampered", "stale", "unsigned"])
def test_events_that_are_not_genuine_and_fresh_are_refused(
    api: TestClient, db: Session, client: Client, staff: Staff, how: str
) -> None:
    comm = _email(db, client, staff)
    events = [event(comm, "delivered")]
    if how == "forged":
        response = post_events(api, events, key=_other_key())
    elif how == "tampered":
        response = post_events(api, events, tamper=True)
    elif how == "stale":
        response = post_events(api, events, age=301)
    else:
        response = api.post("/webhooks/sendgrid/events", json=events)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    db.refresh(comm)
    assert comm.status == "sent"
    assert db.scalar(select(func.count()).select_from(OptOut)) == 0
    rejected = _audits(db, "WEBHOOK_REJECTED")
    assert [a.details["provider"] for a in rejected] == ["sendgrid"]


def test_each_event_is_applied_once(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    delivered = event(comm, "delivered")
    assert post_events(api, [delivered, delivered]).status_code == 204
    assert post_events(api, [delivered]).status_code == 204  # SendGrid's retry of the batch
    assert _history(db, comm) == ["delivered"]
    assert len(_audits(db, "EMAIL_STATUS_CHANGED")) == 1


def test_events_out_of_order_never_move_a_message_back(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    post_events(api, [event(comm, "delivered")])
    post_events(api, [event(comm, "processed"), event(comm, "deferred")])
    db.refresh(comm)
    assert comm.status == "delivered"
    assert _history(db, comm) == ["delivered", "sent", "sent"]


def test_an_unknown_event_is_kept_in_the_history_as_unknown(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    post_events(api, [event(comm, "machine_opened")])
    db.refresh(comm)
    assert comm.status == "sent"
    assert _history(db, comm) == ["unknown"]


def test_an_event_for_another_address_does_not_touch_our_message(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    with capture_logs() as logs:
        post_events(api, [event(comm, "delivered", email="someone.else@example.com")])
    db.refresh(comm)
    assert comm.status == "sent"
    [unmatched] = [line for line in logs if line["event"] == "comms.status_unmatched"]
    assert unmatched["provider_message_id"] == "msgid123"
    assert "someone.else" not in str(logs)  # the address is never logged


@pytest.mark.parametrize("name", ["bounce", "dropped", "spamreport", "unsubscribe"])
def test_suppressing_events_block_queued_and_later_email(
    api: TestClient, db: Session, client: Client, staff: Staff, name: str
) -> None:
    comm = _email(db, client, staff)
    waiting = _email(db, client, staff, status="queued")
    extra = {"type": "bounce", "status": "5.1.1", "reason": "mailbox unknown"}
    response = post_events(api, [event(comm, name, **(extra if name == "bounce" else {}))])
    assert response.status_code == 204
    db.refresh(comm)
    db.refresh(waiting)
    expected = {"bounce": "undelivered", "dropped": "failed"}.get(name, "delivered")
    assert comm.status == expected
    if name == "bounce":
        assert comm.error_code == "5.1.1"
        assert "mailbox" not in (comm.status_reason or "")
    assert waiting.status == "blocked"
    assert "suppression list" in (waiting.status_reason or "")
    optout = db.scalars(select(OptOut).where(OptOut.channel == "email")).one()
    assert (optout.address, optout.client_id, optout.source) == (ADDRESS, client.id, "email_event")
    suppressed = _audits(db, "EMAIL_SUPPRESSED")
    assert [a.details["cause"] for a in suppressed] == [name]
    later = api.post(
        "/comms",
        json={"type": "email", "client_id": client.id, "subject": "Hi", "body": "Hello again."},
        headers=staff.headers,
    )
    assert later.status_code == 422
    assert later.json()["communication"]["status"] == "blocked"


def test_a_body_that_is_not_a_list_of_events_is_a_bad_request(api: TestClient) -> None:
    body = b'{"event": "delivered"}'
    timestamp = str(int(time.time()))
    response = api.post(
        "/webhooks/sendgrid/events",
        content=body,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": sign_payload(
                body, timestamp, SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
            ),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )
    assert response.status_code == 400


def test_a_signed_body_nested_too_deep_to_parse_is_a_bad_request(api: TestClient) -> None:
    # Python's JSON parser gives up on 100,000 nested arrays with a RecursionError, not a
    # ValueError: still a body that is not JSON, not a server error.
    body = b"[" * 100_000 + b"]" * 100_000
    timestamp = str(int(time.time()))
    response = api.post(
        "/webhooks/sendgrid/events",
        content=body,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": sign_payload(
                body, timestamp, SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
            ),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "events refused: the body is not JSON"


def test_the_unsubscribe_link_asks_first_on_get(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    page = api.get(f"/unsubscribe/{make_token(comm.id)}")
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert ADDRESS not in page.text and "a•••@example.com" in page.text
    assert db.scalar(select(func.count()).select_from(OptOut)) == 0


def test_one_click_post_unsubscribes_without_login(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    url = f"/unsubscribe/{make_token(comm.id)}"
    response = api.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "unsubscribed" in response.text
    assert api.post(url).status_code == 200  # a second click changes nothing
    optouts = list(db.scalars(select(OptOut).where(OptOut.channel == "email")))
    assert [(o.address, o.source) for o in optouts] == [(ADDRESS, "one_click")]
    assert [a.details["cause"] for a in _audits(db, "EMAIL_SUPPRESSED")] == ["one_click"]
    later = api.post(
        "/comms",
        json={"type": "email", "client_id": client.id, "subject": "Hi", "body": "Hello again."},
        headers=staff.headers,
    )
    assert later.json()["communication"]["status"] == "blocked"


def test_an_altered_unsubscribe_token_is_not_recognised(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    token = make_token(_email(db, client, staff).id)
    altered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    assert api.post(f"/unsubscribe/{altered}").status_code == 404
    assert db.scalar(select(func.count()).select_from(OptOut)) == 0


def test_a_blocked_bounce_ends_the_message_undelivered_without_suppressing_the_address(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    # SendGrid reports a receiving server's refusal (reputation, content) as a `bounce` whose
    # type is `blocked`; it does not suppress the address, and neither do we.
    comm = _email(db, client, staff)
    waiting = _email(db, client, staff, status="queued")
    blocked = event(
        comm,
        "bounce",
        type="blocked",
        status="5.7.1",
        reason="550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        bounce_classification="Reputation",
    )
    assert post_events(api, [blocked]).status_code == 204
    db.refresh(comm)
    db.refresh(waiting)
    assert (comm.status, comm.error_code) == ("undelivered", "5.7.1")
    assert waiting.status == "queued"
    assert db.scalar(select(func.count()).select_from(OptOut)) == 0
    assert _audits(db, "EMAIL_SUPPRESSED") == []
    later = api.post(
        "/comms",
        json={"type": "email", "client_id": client.id, "subject": "Hi", "body": "Hello again."},
        headers=staff.headers,
    )
    assert later.status_code == 202, later.text
    reason = comm.status_reason or ""
    assert "refused" in reason and "Spamhaus" not in reason


def _send_later(api: TestClient, client: Client, staff: Staff) -> str:
    later = api.post(
        "/comms",
        json={"type": "email", "client_id": client.id, "subject": "Hi", "body": "Hello again."},
        headers=staff.headers,
    )
    status: str = later.json()["communication"]["status"]
    return status


def test_a_group_resubscribe_lifts_the_suppression_of_that_groups_unsubscribe(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    post_events(api, [event(comm, "group_unsubscribe", asm_group_id=42)])
    assert _send_later(api, client, staff) == "blocked"
    post_events(api, [event(comm, "group_resubscribe", asm_group_id=42)])
    assert _send_later(api, client, staff) == "queued"
    optout = db.scalars(select(OptOut).where(OptOut.channel == "email")).one()
    assert optout.revoked_at is not None
    lifted = _audits(db, "EMAIL_RESUBSCRIBED")
    assert [(a.client_id, a.details) for a in lifted] == [
        (client.id, {"cause": "group_resubscribe", "group": 42, "lifted": 1})
    ]
    assert ADDRESS not in json.dumps(lifted[0].details)


@pytest.mark.parametrize(
    "first",
    [
        {"event": "bounce", "type": "bounce", "status": "5.1.1"},
        {"event": "spamreport"},
        {"event": "unsubscribe"},
        {"event": "dropped", "reason": "Bounced Address"},
        {"event": "group_unsubscribe", "asm_group_id": 7},
    ],
    ids=["bounce", "spamreport", "unsubscribe", "dropped", "another group"],
)
def test_a_group_resubscribe_leaves_every_other_suppression_in_place(
    api: TestClient, db: Session, client: Client, staff: Staff, first: dict[str, Any]
) -> None:
    comm = _email(db, client, staff)
    name = first.pop("event")
    post_events(api, [event(comm, name, **first)])
    post_events(api, [event(comm, "group_unsubscribe", asm_group_id=42)])
    post_events(api, [event(comm, "group_resubscribe", asm_group_id=42)])
    assert _send_later(api, client, staff) == "blocked"
    active = db.scalars(
        select(OptOut).where(OptOut.channel == "email", OptOut.revoked_at.is_(None))
    ).all()
    assert len(active) == 1
    assert [a.details["lifted"] for a in _audits(db, "EMAIL_RESUBSCRIBED")] == [1]


def test_a_group_resubscribe_does_not_lift_a_one_click_unsubscribe(
    api: TestClient, db: Session, client: Client, staff: Staff
) -> None:
    comm = _email(db, client, staff)
    assert api.post(f"/unsubscribe/{make_token(comm.id)}").status_code == 200
    post_events(api, [event(comm, "group_resubscribe", asm_group_id=42)])
    assert _send_later(api, client, staff) == "blocked"
    assert _audits(db, "EMAIL_RESUBSCRIBED") == []


def test_a_batchs_status_changes_are_appended_together_and_the_chain_verifies(
    api: TestClient, db: Session, client: Client, staff: Staff, tmp_path: Path
) -> None:
    comms = [_email(db, client, staff) for _ in range(5)]
    batch = [event(comm, "delivered") for comm in comms]
    assert post_events(api, batch).status_code == 204
    changed = sorted(_audits(db, "EMAIL_STATUS_CHANGED"), key=lambda row: row.id)
    assert sorted(a.details["communication_id"] for a in changed) == sorted(c.id for c in comms)
    ids = [row.id for row in changed]
    assert ids == list(range(ids[0], ids[0] + len(comms)))  # nothing between them
    assert len({row.created_at for row in changed}) == 1  # appended as one group
    report = verify_chain(db, anchors=FileAnchorStore(tmp_path / "anchors"))
    assert report.ok, report
