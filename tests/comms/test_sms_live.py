"""SMS end to end: the product's worker drives the official Twilio SDK against the sandbox over
HTTP; callbacks and inbound messages come back signed, as Twilio sends them."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from proirp.audit.models import AuditLog
from proirp.comms.models import StatusIntake
from proirp.config.sandbox_credentials import SANDBOX_TWILIO_AUTH_TOKEN
from tests.comms.conftest import add_client, communication, rows_for, send, wait_for_status
from tests.live import LiveStack, wait_until


def _kept_callbacks(live: LiveStack) -> int:
    with live.session() as session:
        return int(session.scalar(select(func.count()).select_from(StatusIntake)) or 0)


def _all_applied(live: LiveStack) -> None:
    """Wait for the worker's loop to apply every kept callback (within a second or so)."""
    assert wait_until(lambda: _kept_callbacks(live) == 0, timeout=10, interval=0.05)


def _audit_actions(live: LiveStack, client_id: str) -> list[str]:
    with live.session() as session:
        stmt = select(AuditLog.action).where(AuditLog.client_id == client_id).order_by(AuditLog.id)
        return list(session.scalars(stmt))


def test_send_is_delivered_and_recorded(live: LiveStack) -> None:
    client_id = add_client(live, "+12025550143")
    response = send(live, client_id)
    assert response.status_code == 202, response.text
    comm_id = response.json()["communication"]["id"]

    final = wait_for_status(live, comm_id, {"delivered"})
    assert final["provider_message_id"].startswith("SM")
    assert [e["status"] for e in final["events"]][:3] == ["queued", "sending", "sent"]
    ledger = live.ledger()
    assert [(m["to"], m["body"]) for m in ledger] == [("+12025550143", "Please call our office.")]
    actions = _audit_actions(live, client_id)
    assert {"SMS_QUEUED", "SMS_SENT", "SMS_STATUS_CHANGED"} <= set(actions)
    with live.session() as session:
        details = session.scalars(select(AuditLog.details)).all()
    assert "Please call" not in str(details)


def test_undelivered_and_failed_outcomes_carry_the_code_and_a_reason(live: LiveStack) -> None:
    undelivered = send(live, add_client(live, "+15005550010")).json()["communication"]["id"]
    failed = send(live, add_client(live, "+15005550011")).json()["communication"]["id"]
    one = wait_for_status(live, undelivered, {"undelivered"})
    two = wait_for_status(live, failed, {"failed"})
    assert one["error_code"] == "30003" and "unreachable" in one["status_reason"]
    assert two["error_code"] == "30008"


def test_permanent_errors_are_never_retried(live: LiveStack) -> None:
    invalid = send(live, add_client(live, "+15005550001")).json()["communication"]["id"]
    stopped = add_client(live, "+15005550004")
    opted_out = send(live, stopped).json()["communication"]["id"]
    first = wait_for_status(live, invalid, {"failed"})
    second = wait_for_status(live, opted_out, {"failed"})
    assert first["error_code"] == "21211" and "not a valid number" in first["status_reason"]
    assert second["error_code"] == "21610" and "STOP" in second["status_reason"]
    (row,) = rows_for(live, id=invalid)
    assert row.attempts == 1
    assert live.ledger() == []
    # Twilio's 21610 (the number replied STOP to this sender) is the client's opt-out, kept.
    with live.api() as api:
        assert api.get(f"/clients/{stopped}").json()["client"]["sms_opted_out"] is True
        again = send(live, stopped)
    assert again.status_code == 422, again.text


def test_server_errors_are_retried_until_sent(live: LiveStack) -> None:
    live.configure_sandbox(fail_next=2, fail_status=503)
    comm_id = send(live, add_client(live, "+12025550144")).json()["communication"]["id"]
    final = wait_for_status(live, comm_id, {"delivered"}, timeout=30)
    (row,) = rows_for(live, id=comm_id)
    assert row.attempts == 3
    assert [e["status"] for e in final["events"]].count("queued") == 3
    assert len(live.ledger()) == 1


def test_too_many_requests_is_retried_without_loss(live: LiveStack) -> None:
    live.configure_sandbox(mps=1)
    ids = [
        send(live, add_client(live, f"+1202555016{i}")).json()["communication"]["id"]
        for i in range(4)
    ]
    for comm_id in ids:
        wait_for_status(live, comm_id, {"delivered"}, timeout=40)
    assert sorted(m["to"] for m in live.ledger()) == [f"+1202555016{i}" for i in range(4)]


def test_an_unanswered_send_is_settled_without_a_duplicate(live: LiveStack) -> None:
    live.configure_sandbox(timeout_next=1, timeout_seconds=4)
    comm_id = send(live, add_client(live, "+12025550177")).json()["communication"]["id"]
    final = wait_for_status(live, comm_id, {"delivered"}, timeout=30)
    assert final["provider_message_id"]
    # Past the reconciliation window: still one message at the provider.
    wait_until(lambda: False, timeout=3)
    assert [m["to"] for m in live.ledger()] == ["+12025550177"]
    assert communication(live, comm_id)["status"] == "delivered"


def _signed_post(live: LiveStack, path: str, params: dict[str, str]) -> httpx.Response:
    url = f"{live.app_url}{path}"
    signature = RequestValidator(SANDBOX_TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def test_forged_and_unsigned_callbacks_are_refused_and_audited(live: LiveStack) -> None:
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    unsigned = httpx.post(f"{live.app_url}/webhooks/twilio/status", data=params)
    forged = httpx.post(
        f"{live.app_url}/webhooks/twilio/status",
        data=params,
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert unsigned.status_code == 403 and forged.status_code == 403
    with live.session() as session:
        rejected = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "WEBHOOK_REJECTED")
        )
    assert rejected and rejected >= 2


def test_duplicate_and_late_callbacks_never_move_status_backwards(live: LiveStack) -> None:
    comm_id = send(live, add_client(live, "+12025550188")).json()["communication"]["id"]
    final = wait_for_status(live, comm_id, {"delivered"})
    sid = final["provider_message_id"]
    events_before = len(final["events"])
    path = f"/webhooks/twilio/status?ref={comm_id}"
    late_sent = {"MessageSid": sid, "MessageStatus": "sent", "SmsStatus": "sent"}
    duplicate = {"MessageSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    assert _signed_post(live, path, duplicate).status_code == 204
    assert _signed_post(live, path, late_sent).status_code == 204
    _all_applied(live)
    after = communication(live, comm_id)
    assert after["status"] == "delivered"
    assert len(after["events"]) == events_before  # both already seen: ignored


def test_out_of_order_callbacks_end_at_the_final_status(live: LiveStack) -> None:
    comm_id = send(live, add_client(live, "+12025550199")).json()["communication"]["id"]
    sid = wait_for_status(live, comm_id, {"delivered"})["provider_message_id"]
    path = f"/webhooks/twilio/status?ref={comm_id}"
    # A "read" receipt then a stale "queued": status stays final, history keeps both.
    for status in ("read", "queued"):
        params = {"MessageSid": sid, "MessageStatus": status}
        assert _signed_post(live, path, params).status_code == 204
    _all_applied(live)
    after = communication(live, comm_id)
    assert after["status"] == "delivered"
    assert [e["status"] for e in after["events"]][-2:] == ["delivered", "sending"]


def _inbound(live: LiveStack, phone: str, body: str) -> dict[str, object]:
    with live.sandbox() as sandbox:
        answer = sandbox.post(
            "/_sandbox/inbound", json={"from": phone, "to": "+15005550006", "body": body}
        )
    answer.raise_for_status()
    result: dict[str, object] = answer.json()
    return result


def test_stop_start_and_help(live: LiveStack) -> None:
    phone = "+12025550123"
    client_id = add_client(live, phone)
    stop = _inbound(live, phone, "STOP")
    assert stop["status"] == 200
    with live.api() as api:
        assert api.get(f"/clients/{client_id}").json()["client"]["sms_opted_out"] is True
    refused = send(live, client_id)
    assert refused.status_code == 422
    assert refused.json()["communication"]["status"] == "blocked"
    assert "SMS_OPT_OUT" in _audit_actions(live, client_id)

    _inbound(live, phone, "start")
    with live.api() as api:
        assert api.get(f"/clients/{client_id}").json()["client"]["sms_opted_out"] is False
    again = send(live, client_id)
    assert again.status_code == 202
    wait_for_status(live, again.json()["communication"]["id"], {"delivered"})

    help_answer = _inbound(live, phone, "HELP")
    assert "Lakeside Behavioral Health" in str(help_answer["twiml"])
    assert "+12025550100" in str(help_answer["twiml"])


def test_stop_cancels_pending_messages(live: LiveStack) -> None:
    from datetime import timedelta

    from proirp.comms.models import Communication
    from proirp.kit.time import utcnow

    phone = "+12025550124"
    client_id = add_client(live, phone)
    with live.session() as session:
        pending = Communication(
            client_id=client_id,
            user_id=live.user_id,
            channel="sms",
            to_address=phone,
            body="Please call our office.",
            status="queued",
            next_attempt_at=utcnow() + timedelta(hours=1),  # not due: the worker leaves it
        )
        session.add(pending)
        session.commit()
        pending_id = pending.id
    _inbound(live, phone, "Stop")
    after = communication(live, pending_id)
    assert after["status"] == "blocked"
    assert "opted out" in after["status_reason"]


def test_bulk_fans_out_in_the_worker_with_per_recipient_blocking(live: LiveStack) -> None:
    ids = [add_client(live, f"+1312555{i:04d}") for i in range(20)]
    no_consent = add_client(live, "+13125559998", consent=False)
    opted_out = add_client(live, "+13125559999")
    _inbound(live, "+13125559999", "STOP")
    with live.api() as api:
        response = api.post(
            "/comms/bulk",
            json={
                "type": "sms",
                "client_ids": [*ids, no_consent, opted_out],
                "body": "Our office is closed on Monday.",
            },
        )
    assert response.status_code == 202, response.text
    campaign_id = response.json()["campaign"]["id"]

    def done() -> bool:
        with live.api() as api:
            campaign = api.get(f"/campaigns/{campaign_id}").json()["campaign"]
        return bool(campaign["progress"] == 100 and campaign["counts"].get("delivered") == 20)

    assert wait_until(done, timeout=90, interval=0.3)
    with live.api() as api:
        campaign = api.get(f"/campaigns/{campaign_id}").json()["campaign"]
    assert campaign["counts"] == {"delivered": 20, "blocked": 2}
    assert len(live.ledger()) == 20
    assert len({m["to"] for m in live.ledger()}) == 20


def test_a_message_is_found_by_its_twilio_sid(live: LiveStack) -> None:
    comm_id = send(live, add_client(live, "+12025550143")).json()["communication"]["id"]
    wait_for_status(live, comm_id, {"delivered"})
    [message] = live.ledger()
    with live.api() as api:
        found = api.get("/comms", params={"provider_id": message["sid"]})
        unknown = api.get("/comms", params={"provider_id": "SM" + "0" * 32})
    assert found.status_code == 200, found.text
    [communication] = found.json()["communications"]
    assert (communication["id"], communication["provider_message_id"]) == (comm_id, message["sid"])
    assert unknown.json() == {"ok": True, "communications": [], "next_cursor": None}


def test_a_kept_callback_reaches_its_message_within_a_second(live: LiveStack) -> None:
    comm_id = send(live, add_client(live, "+12025550177")).json()["communication"]["id"]
    sid = wait_for_status(live, comm_id, {"delivered"})["provider_message_id"]
    _all_applied(live)
    before = len(communication(live, comm_id)["events"])
    params = {"MessageSid": sid, "MessageStatus": "read"}  # our "delivered" again: history only
    started = time.monotonic()
    assert _signed_post(live, f"/webhooks/twilio/status?ref={comm_id}", params).status_code == 204

    def recorded() -> bool:
        return len(communication(live, comm_id)["events"]) == before + 1

    assert wait_until(recorded, timeout=10, interval=0.05)
    assert time.monotonic() - started < 2.0  # the loop polls at least every 0.5 s
    assert _kept_callbacks(live) == 0
