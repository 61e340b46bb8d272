"""SendGrid's Event Webhook from the sandbox: signature, format, batching, duplicates, retries,
the magic-address lifecycles, and recipient actions simulated through the control route."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from proirp.config.sandbox_credentials import SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY
from proirp.sandbox.config import SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
from proirp.sandbox.sendgrid.signing import sign_payload
from proirp.sandbox.sendgrid.state import event_retry_delay
from tests.sandbox.conftest import (
    SENDGRID_EVENTS_PATH,
    ReceivedRequest,
    RunningSendGrid,
    StartSendGrid,
    WebhookReceiver,
)

SENDER = "noreply@sandbox.proirp.test"
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def mail_body(*recipients: str, **extra: Any) -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": email}]} for email in recipients],
        "from": {"email": SENDER},
        "subject": "Hello",
        "content": [
            {"type": "text/plain", "value": "Hi"},
            {"type": "text/html", "value": '<p>Hi, <a href="https://app.example/r/1">open</a></p>'},
        ],
    } | extra


def send(sandbox: RunningSendGrid, body: dict[str, Any]) -> str:
    response = sandbox.client().client.mail.send.post(request_body=body)
    assert response.status_code == 202
    message_id: str = response.headers["X-Message-Id"]
    return message_id


def events_of(request: ReceivedRequest) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(request.body)
    return events


def wait_for_events(
    receiver: WebhookReceiver, count: int, *, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Block until `count` events (over any number of batches) reached the app."""
    deadline = time.monotonic() + timeout
    while True:
        events = [e for r in receiver.requests(SENDGRID_EVENTS_PATH) for e in events_of(r)]
        if len(events) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert len(events) >= count, f"{len(events)} of {count} events arrived"
    return events


def wait_for_stat(sandbox: RunningSendGrid, name: str, value: int) -> None:
    deadline = time.monotonic() + 5
    while sandbox.state.stats()[name] < value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.01)


def verified(request: ReceivedRequest) -> bool:
    """The product's check, with the SDK's own verifier and the sandbox's public key."""
    webhook = EventWebhook()
    return bool(
        webhook.verify_signature(
            request.body.decode(),
            request.headers[EventWebhookHeader.SIGNATURE],
            request.headers[EventWebhookHeader.TIMESTAMP],
            webhook.convert_public_key_to_ecdsa(SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY),
        )
    )


def test_events_are_signed_as_sendgrid_signs_them(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    send(mail_sandbox, mail_body("client@example.com"))
    wait_for_events(receiver, 2)
    for request in receiver.requests(SENDGRID_EVENTS_PATH):
        assert verified(request)
        timestamp = request.headers[EventWebhookHeader.TIMESTAMP]
        assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 10
        assert request.headers["Content-Type"].startswith("application/json")
        # SendGrid's bytes: one event per line and a trailing CRLF, all covered by the signature.
        assert request.body.endswith(b"]\r\n")
        tampered = ReceivedRequest(**{**request.__dict__, "body": request.body.rstrip()})
        assert not verified(tampered)
        # sign_payload reproduces a signature the SDK accepts (product tests forge events with it).
        forged = sign_payload(request.body, timestamp, SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY)
        headers = request.headers | {EventWebhookHeader.SIGNATURE: forged}
        assert verified(ReceivedRequest(**{**request.__dict__, "headers": headers}))


def test_events_carry_sendgrids_fields_and_custom_args_at_the_top(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    body = mail_body("client@example.com", custom_args={"practice": "p-9"}, categories=["reminder"])
    body["personalizations"][0]["custom_args"] = {"communication_id": "c-1"}
    message_id = send(mail_sandbox, body)
    processed, delivered = wait_for_events(receiver, 2)
    [entry] = mail_sandbox.state.ledger()
    for event in (processed, delivered):
        assert event["email"] == "client@example.com"
        assert isinstance(event["timestamp"], int)
        assert EVENT_ID.match(event["sg_event_id"])
        assert event["sg_message_id"] == entry["sg_message_id"]
        assert event["sg_message_id"].startswith(message_id + ".")
        assert event["smtp-id"].startswith(f"<{message_id}@")
        assert event["category"] == "reminder"
        assert (event["practice"], event["communication_id"]) == ("p-9", "c-1")
        assert "custom_args" not in event
    assert (processed["event"], delivered["event"]) == ("processed", "delivered")
    assert processed["sg_event_id"] != delivered["sg_event_id"]
    assert delivered["response"].startswith("250")
    wait_for_stat(mail_sandbox, "events_posted", 2)
    assert [
        (e["event"], e["response_status"]) for e in mail_sandbox.state.ledger()[0]["events"]
    ] == [
        ("processed", 200),
        ("delivered", 200),
    ]


LIFECYCLES = {
    "client@example.com": ["processed", "delivered"],
    "client+bounce@example.com": ["processed", "bounce"],
    "client+drop@example.com": ["dropped"],
    "client+defer@example.com": ["processed", "deferred", "delivered"],
    "client+spam@example.com": ["processed", "delivered", "spamreport"],
    "client+unsub@example.com": ["processed", "delivered", "unsubscribe"],
    "CLIENT+OPEN@example.com": ["processed", "delivered", "open", "click"],
}


def test_magic_addresses_choose_the_lifecycle(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    send(mail_sandbox, mail_body(*LIFECYCLES))
    events = wait_for_events(receiver, sum(len(names) for names in LIFECYCLES.values()))
    time.sleep(0.1)  # nothing more may come
    by_address: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in wait_for_events(receiver, len(events)):
        by_address[event["email"]].append(event)
    assert {email: [e["event"] for e in got] for email, got in by_address.items()} == LIFECYCLES

    def one(email: str, name: str) -> dict[str, Any]:
        [event] = [e for e in by_address[email] if e["event"] == name]
        return event

    bounce = one("client+bounce@example.com", "bounce")
    assert (bounce["type"], bounce["status"]) == ("bounce", "5.1.1") and bounce["reason"]
    assert one("client+drop@example.com", "dropped")["reason"] == "Bounced Address"
    deferred = one("client+defer@example.com", "deferred")
    assert deferred["attempt"] == "1" and deferred["response"]
    opened = one("CLIENT+OPEN@example.com", "open")
    assert opened["useragent"] and opened["ip"]
    click = one("CLIENT+OPEN@example.com", "click")
    assert click["url"] == "https://app.example/r/1" and click["useragent"] and click["ip"]
    # Every batch a copy's events travelled in was signed.
    assert all(verified(request) for request in receiver.requests(SENDGRID_EVENTS_PATH))


def test_events_due_together_share_a_batch(
    start_sendgrid: StartSendGrid, receiver: WebhookReceiver
) -> None:
    sandbox = start_sendgrid(event_delay_ms=150)
    ids = [send(sandbox, mail_body(f"c{n}@example.com")) for n in range(3)]
    first = receiver.wait_for(SENDGRID_EVENTS_PATH, 1)[0]
    batch = events_of(first)
    assert [e["event"] for e in batch] == ["processed"] * 3
    assert [e["sg_message_id"].split(".")[0] for e in batch] == ids
    second = receiver.wait_for(SENDGRID_EVENTS_PATH, 2)[1]
    assert [e["event"] for e in events_of(second)] == ["delivered"] * 3


def test_a_batch_holds_at_most_500_events(
    start_sendgrid: StartSendGrid, receiver: WebhookReceiver
) -> None:
    sandbox = start_sendgrid(event_delay_ms=10)
    send(sandbox, mail_body(*(f"c{n}@example.com" for n in range(501))))
    wait_for_events(receiver, 1002)
    sizes = [len(events_of(r)) for r in receiver.requests(SENDGRID_EVENTS_PATH)]
    assert max(sizes) == 500 and sum(sizes) == 1002
    wait_for_stat(sandbox, "events_posted", 1002)


def test_duplicate_every_posts_some_batches_twice(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    mail_sandbox.control("POST", "config", json={"duplicate_every": 2})
    send(mail_sandbox, mail_body("client@example.com"))
    requests_seen = receiver.wait_for(SENDGRID_EVENTS_PATH, 3)
    wait_for_stat(mail_sandbox, "event_batches_posted", 3)
    time.sleep(0.1)
    assert len(receiver.requests(SENDGRID_EVENTS_PATH)) == 3
    processed, delivered, again = requests_seen
    assert delivered.body == again.body  # the same events: the app must dedupe on sg_event_id
    assert verified(again)
    assert [e["event"] for e in events_of(processed)] == ["processed"]
    events = mail_sandbox.state.ledger()[0]["events"]
    assert [(e["event"], e["duplicated"]) for e in events] == [
        ("processed", False),
        ("delivered", True),
    ]
    assert mail_sandbox.state.stats()["events_posted"] == 3


def test_refused_batches_are_retried_then_the_lifecycle_goes_on(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    receiver.script(SENDGRID_EVENTS_PATH, (500, "oops"), (503, "busy"))
    send(mail_sandbox, mail_body("client@example.com"))
    attempts = receiver.wait_for(SENDGRID_EVENTS_PATH, 4)
    assert [events_of(r)[0]["event"] for r in attempts] == [
        "processed",
        "processed",
        "processed",
        "delivered",
    ]
    assert attempts[0].body == attempts[2].body  # retried as it was, newly signed
    assert all(verified(r) for r in attempts)
    wait_for_stat(mail_sandbox, "event_batches_posted", 2)
    events = mail_sandbox.state.ledger()[0]["events"]
    assert [(e["event"], e["attempts"], e["response_status"]) for e in events] == [
        ("processed", 3, 200),
        ("delivered", 1, 200),
    ]
    assert mail_sandbox.state.stats()["event_batches_failed"] == 0


def test_a_batch_is_retried_for_as_long_as_event_retry_seconds_says(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    """SendGrid retries a refused batch for 24 hours: an app down for a few seconds (its database
    restarting) still hears of every event."""
    mail_sandbox.control("POST", "config", json={"event_retry_seconds": 5})
    receiver.script(SENDGRID_EVENTS_PATH, (503, "busy"), (503, "busy"), (503, "busy"))
    send(mail_sandbox, mail_body("client@example.com"))
    attempts = receiver.wait_for(SENDGRID_EVENTS_PATH, 5)
    assert [events_of(r)[0]["event"] for r in attempts][:4] == ["processed"] * 4
    event = mail_sandbox.state.ledger()[0]["events"][0]
    assert (event["event"], event["attempts"], event["response_status"]) == ("processed", 4, 200)


def test_retries_come_at_growing_intervals_within_the_window() -> None:
    delays, tried_for, attempt = [], 0.0, 1
    while (delay := event_retry_delay(attempt, tried_for=tried_for, window=100)) is not None:
        delays.append(delay)
        tried_for, attempt = tried_for + delay, attempt + 1
    assert delays == [0.1, 0.5, 2.5, 12.5, 30.0, 30.0]  # the last try 75.6 s after the first
    assert event_retry_delay(3, tried_for=0.6, window=0.6) is None  # the default: three tries


def test_an_unreachable_app_counts_failed_batches(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(app_base_url="http://127.0.0.1:9")
    send(sandbox, mail_body("client@example.com"))
    wait_for_stat(sandbox, "event_batches_failed", 1)
    [event] = sandbox.state.ledger()[0]["events"][:1]
    assert (event["event"], event["attempts"], event["response_status"]) == ("processed", 3, None)


def test_events_can_be_switched_off(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    assert mail_sandbox.control("POST", "config", json={"events": False}).json()["events"] is False
    send(mail_sandbox, mail_body("client@example.com"))
    time.sleep(0.15)
    assert receiver.requests(SENDGRID_EVENTS_PATH) == []
    assert mail_sandbox.state.ledger()[0]["events"] == []


def test_without_an_app_there_are_no_events(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(app_base_url=None)
    message_id = send(sandbox, mail_body("client@example.com"))
    time.sleep(0.1)
    assert sandbox.state.stats()["event_batches_posted"] == 0
    response = sandbox.control(
        "POST",
        "events",
        json={"x_message_id": message_id, "email": "client@example.com", "event": "open"},
    )
    assert response.status_code == 409


# --- recipient actions through the control route -----------------------------------------


def test_control_route_posts_one_signed_event_now(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    body = mail_body(
        "client@example.com", custom_args={"communication_id": "c-7"}, asm={"group_id": 42}
    )
    message_id = send(mail_sandbox, body)
    wait_for_events(receiver, 2)
    wait_for_stat(mail_sandbox, "event_batches_posted", 2)

    response = mail_sandbox.control(
        "POST",
        "events",
        json={"x_message_id": message_id, "email": "Client@Example.com", "event": "unsubscribe"},
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == 200
    [event] = answer["events"]
    assert (event["event"], event["email"], event["communication_id"]) == (
        "unsubscribe",
        "client@example.com",
        "c-7",
    )
    assert event["asm_group_id"] == 42
    last = receiver.requests(SENDGRID_EVENTS_PATH)[-1]
    assert events_of(last) == [event] and verified(last)

    receiver.script(SENDGRID_EVENTS_PATH, (403, "nope"))
    click = mail_sandbox.control(
        "POST",
        "events",
        json={
            "x_message_id": message_id,
            "email": "client@example.com",
            "event": "click",
            "url": "https://app.example/unsubscribe",
        },
    ).json()
    assert click["status"] == 403  # what the app answered, passed back unretried
    assert click["events"][0]["url"] == "https://app.example/unsubscribe"
    events = [e["event"] for e in mail_sandbox.state.ledger()[0]["events"]]
    assert events == ["processed", "delivered", "unsubscribe", "click"]
    stats = mail_sandbox.state.stats()
    assert (stats["event_batches_posted"], stats["event_batches_failed"]) == (3, 1)


def test_control_route_refuses_unknown_copies_and_events(
    mail_sandbox: RunningSendGrid, receiver: WebhookReceiver
) -> None:
    message_id = send(mail_sandbox, mail_body("client@example.com"))
    cases = [
        ({"x_message_id": "nope", "email": "client@example.com", "event": "open"}, 404),
        ({"x_message_id": message_id, "email": "other@example.com", "event": "open"}, 404),
        ({"x_message_id": message_id, "email": "client@example.com", "event": "opened"}, 400),
        ({"x_message_id": message_id, "event": "open"}, 400),
    ]
    for payload, status in cases:
        response = mail_sandbox.control("POST", "events", json=payload)
        assert response.status_code == status, payload
        assert "client@example.com" not in response.text
