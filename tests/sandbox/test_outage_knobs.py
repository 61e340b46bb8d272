"""A timed provider outage (5xx, then 429 with Retry-After), requests that come before a
Retry-After allowed, and answers dropped mid-way (a connection reset), for Twilio and SendGrid."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from proirp.integrations.base import (
    EmailBatch,
    EmailRecipient,
    ProviderAmbiguousError,
    ProviderTemporaryError,
)
from proirp.integrations.sendgrid.adapter import SendGridEmailSender
from proirp.integrations.twilio.adapter import TwilioSmsSender
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    OUR_NUMBER,
    SENDGRID_API_KEY,
    RunningGoogle,
    RunningSandbox,
    RunningSendGrid,
)
from tests.sandbox.test_sendgrid_knobs import SENDER, mail_body


def send_sms(sandbox: RunningSandbox) -> requests.Response:
    return requests.post(
        sandbox.messages_url(),
        data={"To": CLIENT_NUMBER, "From": OUR_NUMBER, "Body": "x"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )


def outage(*phases: dict[str, Any]) -> dict[str, Any]:
    return {"outage": list(phases)}


def test_twilio_outage_answers_503_then_429_with_retry_after(sandbox: RunningSandbox) -> None:
    knobs = sandbox.control(
        "POST",
        "config",
        json=outage(
            {"status": 503, "seconds": 0.4},
            {"status": 429, "seconds": 0.6, "retry_after": 1},
        ),
    ).json()
    assert knobs["outage"] == [
        {"status": 503, "seconds": 0.4, "retry_after": None},
        {"status": 429, "seconds": 0.6, "retry_after": 1},
    ]
    unavailable = send_sms(sandbox)
    assert unavailable.status_code == 503
    assert unavailable.json()["code"] == 20503
    assert "Retry-After" not in unavailable.headers
    time.sleep(0.45)
    limited = send_sms(sandbox)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    time.sleep(0.6)  # the outage is over, but the Retry-After has not passed
    assert send_sms(sandbox).status_code == 201
    stats = sandbox.state.stats()
    assert (stats["outage_5xx"], stats["outage_429"], stats["early_requests"]) == (1, 1, 1)
    assert len(sandbox.state.ledger()) == 1  # nothing was taken during the outage


def test_a_request_after_the_retry_after_is_not_early(sandbox: RunningSandbox) -> None:
    sandbox.control(
        "POST", "config", json=outage({"status": 429, "seconds": 0.3, "retry_after": 1})
    )
    assert send_sms(sandbox).status_code == 429
    time.sleep(1.05)
    assert send_sms(sandbox).status_code == 201
    assert sandbox.state.stats()["early_requests"] == 0


def test_an_empty_outage_ends_one_and_reset_forgets_it(sandbox: RunningSandbox) -> None:
    sandbox.control("POST", "config", json=outage({"status": 503, "seconds": 60}))
    assert send_sms(sandbox).status_code == 503
    sandbox.control("POST", "config", json=outage())
    assert send_sms(sandbox).status_code == 201
    sandbox.control("POST", "config", json=outage({"status": 429, "seconds": 60, "retry_after": 9}))
    assert send_sms(sandbox).status_code == 429
    sandbox.control("POST", "reset")
    assert sandbox.control("GET", "config").json()["outage"] == []
    assert send_sms(sandbox).status_code == 201
    assert sandbox.state.stats()["early_requests"] == 0


@pytest.mark.parametrize(
    "body",
    [
        outage({"status": 404, "seconds": 1}),
        outage({"status": 503, "seconds": 0}),
        outage({"status": 429, "seconds": 1, "retry_after": -1}),
        outage({"status": 429, "seconds": 1, "extra": 1}),
        {"outage": None},
        {"reset_next": -1},
    ],
)
def test_invalid_outages_are_refused(sandbox: RunningSandbox, body: dict[str, Any]) -> None:
    assert sandbox.control("POST", "config", json=body).status_code == 400


def test_twilio_reset_next_takes_the_message_and_drops_the_answer(
    sandbox: RunningSandbox,
) -> None:
    sandbox.control("POST", "config", json={"reset_next": 1})
    client = sandbox.client(timeout=5)
    with pytest.raises(requests.RequestException):
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
    # The ambiguous case: the provider has it although the client got no whole answer.
    assert len(sandbox.state.ledger()) == 1
    assert sandbox.state.stats()["resets"] == 1
    assert send_sms(sandbox).status_code == 201  # only the next answer was dropped


def test_sendgrid_outage_answers_503_then_429_with_retry_after(
    mail_sandbox: RunningSendGrid,
) -> None:
    mail_sandbox.control(
        "POST",
        "config",
        json=outage(
            {"status": 503, "seconds": 0.4},
            {"status": 429, "seconds": 0.6, "retry_after": 1},
        ),
    )
    unavailable = mail_sandbox.post_mail(mail_body())
    assert unavailable.status_code == 503
    assert unavailable.json() == {
        "errors": [{"message": "service unavailable", "field": None, "help": None}]
    }
    time.sleep(0.45)
    limited = mail_sandbox.post_mail(mail_body())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() == {
        "errors": [{"message": "too many requests", "field": None, "help": None}]
    }
    time.sleep(0.6)
    assert mail_sandbox.post_mail(mail_body()).status_code == 202
    stats = mail_sandbox.state.stats()
    assert (stats["outage_5xx"], stats["outage_429"], stats["early_requests"]) == (1, 1, 1)
    assert len(mail_sandbox.state.ledger()) == 1


def test_sendgrid_reset_next_accepts_the_mail_and_drops_the_answer(
    mail_sandbox: RunningSendGrid,
) -> None:
    mail_sandbox.control("POST", "config", json={"reset_next": 1})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        mail_sandbox.client().client.mail.send.post(request_body=mail_body(), timeout=5)
    assert len(mail_sandbox.state.ledger()) == 1
    assert mail_sandbox.state.stats()["resets"] == 1
    assert mail_sandbox.post_mail(mail_body()).status_code == 202


def test_a_send_just_after_a_retry_after_was_given_counts_as_in_flight(
    sandbox: RunningSandbox,
) -> None:
    sandbox.state.update_knobs({})
    before = time.monotonic()  # a send that arrived before, still held by the latency
    sandbox.state.gave_retry_after("", 5)
    sandbox.state.note_send(OUR_NUMBER, arrived=time.monotonic())  # within IN_FLIGHT_SECONDS
    time.sleep(0.1)
    sandbox.state.note_send(OUR_NUMBER, arrived=before)
    sandbox.state.note_send(OUR_NUMBER, arrived=time.monotonic())  # after: early
    stats = sandbox.state.stats()
    assert (stats["in_flight_at_retry_after"], stats["early_requests"]) == (2, 1)


def test_a_send_is_timed_from_its_arrival_not_from_its_answer(sandbox: RunningSandbox) -> None:
    """With latency configured, a send that arrived before a Retry-After was given is answered
    after it was given: it was on its way, not early."""
    sandbox.control("POST", "config", json={"latency_ms": 400})
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(send_sms, sandbox)
        time.sleep(0.15)  # the send has arrived and waits out its latency
        sandbox.state.gave_retry_after("", 5)
        assert answer.result().status_code == 201
    stats = sandbox.state.stats()
    assert (stats["in_flight_at_retry_after"], stats["early_requests"]) == (1, 0)


def test_a_retry_after_given_to_one_sender_does_not_hold_another(sandbox: RunningSandbox) -> None:
    sandbox.state.gave_retry_after(OUR_NUMBER, 5)
    sandbox.state.note_send("+15005550007", arrived=time.monotonic())
    assert sandbox.state.stats()["early_requests"] == 0


# The product's adapters read these answers as the providers' would be read: an outage's 429 is
# temporary and carries its Retry-After; a cut-off answer or one that hangs is ambiguous.


def twilio_adapter(sandbox: RunningSandbox) -> TwilioSmsSender:
    return TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=OUR_NUMBER,
        api_base=sandbox.api_base,
        timeout=0.5,
    )


def sendgrid_adapter(sandbox: RunningSendGrid) -> SendGridEmailSender:
    return SendGridEmailSender(api_key=SENDGRID_API_KEY, api_base=sandbox.host, timeout=0.5)


def one_email() -> EmailBatch:
    return EmailBatch(
        from_email=SENDER,
        from_name=None,
        recipients=[EmailRecipient(to="client@example.com", reference="c1")],
        subject="Hello",
        text="Hi",
    )


def test_the_twilio_adapter_reads_an_outage_and_broken_answers(sandbox: RunningSandbox) -> None:
    sender = twilio_adapter(sandbox)
    sandbox.control("POST", "config", json=outage({"status": 429, "seconds": 60, "retry_after": 7}))
    with pytest.raises(ProviderTemporaryError) as limited:
        sender.send(CLIENT_NUMBER, "x", status_callback=None)
    assert (limited.value.code, limited.value.retry_after) == ("20429", 7.0)
    sandbox.control("POST", "config", json={"outage": [], "reset_next": 1, "timeout_next": 1})
    sandbox.control("POST", "config", json={"timeout_seconds": 1.5})
    for _ in range(2):  # cut off, then held past the timeout
        with pytest.raises(ProviderAmbiguousError):
            sender.send(CLIENT_NUMBER, "x", status_callback=None)
    assert len(sandbox.state.ledger()) == 2  # both were taken


def test_the_sendgrid_adapter_reads_an_outage_and_broken_answers(
    mail_sandbox: RunningSendGrid,
) -> None:
    sender = sendgrid_adapter(mail_sandbox)
    mail_sandbox.control(
        "POST", "config", json=outage({"status": 429, "seconds": 60, "retry_after": 7})
    )
    with pytest.raises(ProviderTemporaryError) as limited:
        sender.send(one_email())
    assert (limited.value.code, limited.value.retry_after) == ("429", 7.0)
    mail_sandbox.control(
        "POST",
        "config",
        json={"outage": [], "reset_next": 1, "timeout_next": 1, "timeout_seconds": 1.5},
    )
    for _ in range(2):
        with pytest.raises(ProviderAmbiguousError):
            sender.send(one_email())
    assert len(mail_sandbox.state.ledger()) == 2


def test_vendors_that_do_not_send_for_us_have_no_outage_knobs(google: RunningGoogle) -> None:
    for body in (outage({"status": 503, "seconds": 1}), {"reset_next": 1}):
        assert google.control("POST", "config", json=body).status_code == 400
