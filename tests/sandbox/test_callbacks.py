"""Status callbacks: order, Twilio's parameters and signature, retries, failure outcomes."""

from __future__ import annotations

import time

from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    OUR_NUMBER,
    ReceivedRequest,
    RunningSandbox,
    WebhookReceiver,
)

STATUS_PATH = "/status"


def assert_signed(request: ReceivedRequest) -> None:
    signature = request.headers["X-Twilio-Signature"]
    assert RequestValidator(AUTH_TOKEN).validate(request.url, request.form, signature)
    assert not RequestValidator("another-token").validate(request.url, request.form, signature)


def wait_for_status(client: Client, sid: str, status: str) -> None:
    deadline = time.monotonic() + 5
    while client.messages(sid).fetch().status != status:
        assert time.monotonic() < deadline, f"message never became {status}"
        time.sleep(0.02)


def wait_for_callback_results(sandbox: RunningSandbox, count: int) -> None:
    """Until the sandbox has seen the answers (not only sent the requests) of `count` callbacks."""
    deadline = time.monotonic() + 10
    while (
        sum(sandbox.state.stats()[k] for k in ("callbacks_delivered", "callbacks_failed")) < count
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_callbacks_arrive_in_order_signed_with_twilios_parameters(
    sandbox: RunningSandbox, client: Client, receiver: WebhookReceiver
) -> None:
    url = receiver.base_url + STATUS_PATH
    message = client.messages.create(
        to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Hi", status_callback=url
    )
    sent, delivered = receiver.wait_for(STATUS_PATH, 2)

    assert [sent.form["MessageStatus"], delivered.form["MessageStatus"]] == ["sent", "delivered"]
    for request in (sent, delivered):
        assert_signed(request)
        assert request.form["MessageSid"] == request.form["SmsSid"] == message.sid
        assert request.form["SmsStatus"] == request.form["MessageStatus"]
        assert request.form["AccountSid"] == ACCOUNT_SID
        assert (request.form["From"], request.form["To"]) == (OUR_NUMBER, CLIENT_NUMBER)
        assert request.form["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in request.form
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert client.messages(message.sid).fetch().status == "delivered"
    wait_for_callback_results(sandbox, 2)
    [entry] = sandbox.state.ledger()
    assert entry["status_callback"] == url
    assert [(c["status"], c["response_status"]) for c in entry["callbacks"]] == [
        ("sent", 200),
        ("delivered", 200),
    ]


def test_magic_numbers_end_undelivered_or_failed(client: Client, receiver: WebhookReceiver) -> None:
    url = receiver.base_url + STATUS_PATH
    undelivered = client.messages.create(
        to="+15005550010", from_=OUR_NUMBER, body="x", status_callback=url
    ).sid
    failed = client.messages.create(
        to="+15005550011", from_=OUR_NUMBER, body="x", status_callback=url
    ).sid
    receiver.wait_for(STATUS_PATH, 3)
    time.sleep(0.2)  # nothing more may come

    def statuses(sid: str) -> list[tuple[str, str | None]]:
        return [
            (r.form["MessageStatus"], r.form.get("ErrorCode"))
            for r in receiver.requests(STATUS_PATH)
            if r.form["MessageSid"] == sid
        ]

    assert statuses(undelivered) == [("sent", None), ("undelivered", "30003")]
    assert statuses(failed) == [("failed", "30008")]  # never left Twilio
    for request in receiver.requests(STATUS_PATH):
        assert_signed(request)
    fetched = client.messages(undelivered).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)
    assert fetched.error_message
    fetched = client.messages(failed).fetch()
    assert (fetched.status, fetched.error_code, fetched.price) == ("failed", 30008, None)


def test_failed_callbacks_are_retried_in_order(
    sandbox: RunningSandbox, client: Client, receiver: WebhookReceiver
) -> None:
    receiver.script(STATUS_PATH, (500, "oops"), (503, "busy"))
    sid = client.messages.create(
        to=CLIENT_NUMBER,
        from_=OUR_NUMBER,
        body="x",
        status_callback=receiver.base_url + STATUS_PATH,
    ).sid
    requests_seen = receiver.wait_for(STATUS_PATH, 4)
    assert [r.form["MessageStatus"] for r in requests_seen] == [
        "sent",
        "sent",
        "sent",
        "delivered",
    ]
    wait_for_status(client, sid, "delivered")
    wait_for_callback_results(sandbox, 2)
    [entry] = sandbox.state.ledger()
    callbacks = entry["callbacks"]
    assert callbacks == [
        {"status": "sent", "attempts": 3, "response_status": 200},
        {"status": "delivered", "attempts": 1, "response_status": 200},
    ]
    assert sandbox.state.stats()["callbacks_delivered"] == 2


def test_unreachable_callback_url_does_not_stop_the_message(
    sandbox: RunningSandbox, client: Client
) -> None:
    sid = client.messages.create(
        to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x", status_callback="http://127.0.0.1:9/nowhere"
    ).sid
    wait_for_callback_results(sandbox, 2)
    assert sandbox.state.stats()["callbacks_failed"] == 2
    assert client.messages(sid).fetch().status == "delivered"
    # The server is still answering.
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="y").status == "queued"


def test_without_status_callback_the_status_still_advances(client: Client) -> None:
    sid = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").sid
    wait_for_status(client, sid, "delivered")


def test_messaging_service_picks_a_sender_later(client: Client, receiver: WebhookReceiver) -> None:
    service = "MG" + "a" * 32
    message = client.messages.create(
        to=CLIENT_NUMBER,
        messaging_service_sid=service,
        body="x",
        status_callback=receiver.base_url + STATUS_PATH,
    )
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == service
    callbacks = receiver.wait_for(STATUS_PATH, 3)
    assert [r.form["MessageStatus"] for r in callbacks] == ["queued", "sent", "delivered"]
    assert all(r.form["MessagingServiceSid"] == service for r in callbacks)
    assert client.messages(message.sid).fetch().num_segments == "1"
