"""Twilio's status callbacks are kept at once and applied in batches (comms/sms/intake.py).

Each callback is posted signed over HTTP to the product's route and answered before anything
touches its message; `drain_batch` then does what the worker's loop does. On SQLite and
PostgreSQL: a status reaches its message, many in one batch end right, a callback that comes
before its message is known waits for it (for a bounded time), duplicates and late statuses keep
today's rules, and no kept row holds a phone number, a body or anything else of the callback's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from proirp.audit.models import AuditLog
from proirp.clients.models import Channel, Client
from proirp.clients.repository import opted_out_addresses
from proirp.comms.models import Communication, CommunicationEvent, StatusIntake
from proirp.comms.sms.intake import INTAKE_LIFETIME, drain_batch
from proirp.config import Settings
from proirp.kit.admission import AdmissionLimit
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client

BODY = "Your appointment with Dr. Example is at 3pm."
FROM = "+15005550006"


@pytest.fixture
def client(db: Session) -> Client:
    return create_client(db)


def sid(n: int) -> str:
    return f"SM{n:032x}"


def message(db: Session, client: Client, staff: Staff, n: int, *, with_sid: bool = True) -> Any:
    comm = Communication(
        client_id=client.id,
        user_id=staff.user.id,
        channel="sms",
        to_address=client.phone,
        body=BODY,
        provider="twilio",
        provider_message_id=sid(n) if with_sid else None,
        status="sending",
    )
    db.add(comm)
    db.flush()
    return comm


def post_status(
    api: TestClient,
    settings: Settings,
    sms_sid: str,
    status: str,
    *,
    ref: str | None = None,
    **extra: str,
) -> Any:
    path = "/webhooks/twilio/status" + (f"?ref={ref}" if ref else "")
    params = {"MessageSid": sms_sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    params.update(extra)
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
    assert answer.status_code == 204, answer.text
    return answer


def kept(db: Session) -> list[StatusIntake]:
    return list(db.scalars(select(StatusIntake).order_by(StatusIntake.id)))


def history(db: Session, comm: Communication) -> list[str]:
    stmt = (
        select(CommunicationEvent.status)
        .where(CommunicationEvent.communication_id == comm.id)
        .order_by(CommunicationEvent.created_at, CommunicationEvent.id)
    )
    return list(db.scalars(stmt))


def status_audits(db: Session) -> list[dict[str, Any]]:
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "SMS_STATUS_CHANGED"))
    return [dict(row.details) for row in rows]


def test_a_callback_is_kept_then_applied_to_its_message(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comm = message(db, client, staff, 1)
    post_status(api, settings, sid(1), "undelivered", ErrorCode="30003")
    db.refresh(comm)
    assert comm.status == "sending"  # answered before anything touched the message
    assert len(kept(db)) == 1

    assert drain_batch(db) == 1
    db.refresh(comm)
    assert (comm.status, comm.error_code) == ("undelivered", "30003")
    assert history(db, comm) == ["undelivered"]
    assert status_audits(db) == [
        {"communication_id": comm.id, "status": "undelivered", "error_code": "30003"}
    ]
    assert kept(db) == []  # deleted in the transaction that applied it


def test_a_failure_for_a_number_that_replied_stop_is_its_opt_out(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    """Twilio may take a message and report it failed with 21610 later (a Messaging Service
    does): the number opted out of this sender, as when Twilio refuses it at once."""
    assert client.phone
    first = message(db, client, staff, 41)
    message(db, client, staff, 42)
    post_status(api, settings, sid(41), "failed", ErrorCode="21610")
    post_status(api, settings, sid(42), "failed", ErrorCode="21610")
    assert drain_batch(db) == 2
    db.refresh(first)
    assert (first.status, first.error_code) == ("failed", "21610")
    assert opted_out_addresses(db, Channel.SMS, [client.phone]) == {client.phone}
    opt_outs = db.scalars(select(AuditLog).where(AuditLog.action == "SMS_OPT_OUT")).all()
    assert len(opt_outs) == 1  # once, however many messages said so


def test_a_kept_callback_holds_no_phone_number_body_or_other_field(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    # Twilio's callbacks carry the numbers, and some carry the body: none of it is kept.
    message(db, client, staff, 2)
    post_status(api, settings, sid(2), "sent", To=client.phone or "", From=FROM, Body=BODY)
    (row,) = kept(db)
    values = {column.name: getattr(row, column.name) for column in StatusIntake.__table__.columns}
    text = " ".join(str(value) for value in values.values())
    for secret in (client.phone or "", FROM, BODY, "AC" + "0" * 32):
        assert secret and secret not in text
    assert (row.provider, row.provider_message_id, row.provider_status) == (
        "twilio",
        sid(2),
        "sent",
    )


def test_many_callbacks_are_applied_in_one_batch_with_a_constant_number_of_lookups(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comms = [message(db, client, staff, 100 + n) for n in range(60)]
    ends = ["delivered", "undelivered", "failed"]
    for n, _comm in enumerate(comms):
        post_status(api, settings, sid(100 + n), "sent")
        post_status(api, settings, sid(100 + n), ends[n % 3], ErrorCode="30005")
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "advisory" not in statement:
            selects.append(statement)  # reads of rows, not the writers' lock

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert drain_batch(db) == 120
    finally:
        event.remove(connection, "before_cursor_execute", count)
    # The rows, the events already seen, the messages by SID, the audit chain's head: a fixed
    # number, not one or more per callback.
    assert len(selects) <= 5, selects
    for n, comm in enumerate(comms):
        db.refresh(comm)
        assert comm.status == ends[n % 3]
        assert history(db, comm) == ["sent", ends[n % 3]]
    assert len(status_audits(db)) == 120
    assert kept(db) == []


def test_a_callback_before_its_message_is_known_waits_for_it(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    post_status(api, settings, sid(3), "sent")
    post_status(api, settings, sid(3), "delivered")
    assert drain_batch(db) == 2
    rows = kept(db)
    assert [(r.attempts, r.due_at > utcnow()) for r in rows] == [(1, True), (1, True)]
    assert drain_batch(db) == 0  # not due again yet

    comm = message(db, client, staff, 3)  # the worker records the send's SID
    assert drain_batch(db, now=utcnow() + timedelta(seconds=3)) == 2
    db.refresh(comm)
    assert comm.status == "delivered"
    assert history(db, comm) == ["sent", "delivered"]
    assert kept(db) == []


def test_a_callback_whose_message_never_appears_is_given_up_and_logged(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    post_status(api, settings, sid(4), "delivered", To=client.phone or "")
    drain_batch(db)
    assert len(kept(db)) == 1
    with capture_logs() as logs:
        drain_batch(db, now=utcnow() + INTAKE_LIFETIME + timedelta(seconds=1))
    assert kept(db) == []
    (given_up,) = [line for line in logs if line["event"] == "comms.status_intake_given_up"]
    assert given_up["provider_message_id"] == sid(4)
    assert client.phone and client.phone not in str(given_up)


def test_a_callback_carrying_our_id_finds_a_message_whose_sid_is_not_recorded_yet(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comm = message(db, client, staff, 5, with_sid=False)
    post_status(api, settings, sid(5), "sent", ref=comm.id)
    post_status(api, settings, sid(5), "delivered", ref=comm.id)
    assert drain_batch(db) == 2
    db.refresh(comm)
    assert (comm.status, comm.provider_message_id) == ("delivered", sid(5))
    assert kept(db) == []


def test_duplicates_are_harmless_in_one_batch_and_across_batches(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comm = message(db, client, staff, 6)
    for _ in range(3):
        post_status(api, settings, sid(6), "delivered")
    drain_batch(db)
    post_status(api, settings, sid(6), "delivered")
    drain_batch(db)
    db.refresh(comm)
    assert comm.status == "delivered"
    assert history(db, comm) == ["delivered"]
    assert len(status_audits(db)) == 1
    assert kept(db) == []


def test_late_and_out_of_order_statuses_never_move_a_message_back(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comm = message(db, client, staff, 7)
    for status in ("delivered", "sent", "read", "queued"):  # one batch, in this order
        post_status(api, settings, sid(7), status)
    drain_batch(db)
    db.refresh(comm)
    assert comm.status == "delivered"
    # Kept as history, as when each was applied on its own; "read" is our "delivered" again.
    assert history(db, comm) == ["delivered", "sent", "delivered", "sending"]
    assert [a["status"] for a in status_audits(db)] == ["delivered"]


def test_the_backlog_is_counted_for_metrics(
    api: TestClient, db: Session, settings: Settings
) -> None:
    from proirp.comms.sms.intake import backlog

    before = backlog(db)
    post_status(api, settings, sid(8), "sent")
    assert backlog(db) == before + 1
    assert db.scalar(select(func.count()).select_from(StatusIntake)) == before + 1


def test_a_callback_is_kept_while_staff_requests_fill_the_server(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    comm = message(db, client, staff, 9)
    api.get("/healthz")  # the app's middleware stack is built by its first request
    admission = api.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(admission, AdmissionLimit):
        admission = admission.app
    admission.in_flight = admission.limit  # every staff place taken
    try:
        refused = api.get("/comms", headers=staff.headers)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "overloaded"
        post_status(api, settings, sid(9), "delivered")
    finally:
        admission.in_flight = 0
    drain_batch(db)
    db.refresh(comm)
    assert comm.status == "delivered"
