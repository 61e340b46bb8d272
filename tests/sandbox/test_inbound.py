"""Simulated inbound SMS: Twilio's signed webhook form, and STOP/START opt-outs."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    INBOUND_PATH,
    OTHER_NUMBER,
    OUR_NUMBER,
    RunningSandbox,
    StartSandbox,
    WebhookReceiver,
)


def text_us(sandbox: RunningSandbox, body: str, *, from_: str = CLIENT_NUMBER) -> dict[str, object]:
    response = sandbox.control(
        "POST", "inbound", json={"from": from_, "to": OUR_NUMBER, "body": body}
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_inbound_posts_twilios_signed_form_and_returns_the_answer(
    sandbox: RunningSandbox, receiver: WebhookReceiver, client: Client
) -> None:
    receiver.script(INBOUND_PATH, (200, "<Response><Message>Thanks</Message></Response>"))
    result = text_us(sandbox, "Running late, sorry")

    assert result["status"] == 200
    assert result["twiml"] == "<Response><Message>Thanks</Message></Response>"
    [request] = receiver.requests(INBOUND_PATH)
    signature = request.headers["X-Twilio-Signature"]
    assert RequestValidator(AUTH_TOKEN).validate(request.url, request.form, signature)
    form = request.form
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"] == result["message_sid"]
    assert (form["From"], form["To"], form["Body"]) == (
        CLIENT_NUMBER,
        OUR_NUMBER,
        "Running late, sorry",
    )
    assert form["AccountSid"] == ACCOUNT_SID
    assert (form["NumMedia"], form["NumSegments"], form["SmsStatus"]) == ("0", "1", "received")
    assert form["ApiVersion"] == "2010-04-01"
    assert form["FromCountry"] == form["ToCountry"] == "US"
    assert "OptOutType" not in form
    # Like Twilio, the inbound message is a Message resource too.
    [listed] = client.messages.list(from_=CLIENT_NUMBER)
    assert (listed.sid, listed.direction, listed.status) == (
        result["message_sid"],
        "inbound",
        "received",
    )
    assert sandbox.state.ledger() == []  # the ledger holds what the product sent


def test_the_apps_error_status_is_passed_back(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    receiver.script(INBOUND_PATH, (403, "bad signature"))
    assert text_us(sandbox, "hello") == {
        "status": 403,
        "twiml": "bad signature",
        "message_sid": sandbox.state.ledger(include_inbound=True)[0]["sid"],
    }


@pytest.mark.parametrize(
    "word",
    ["STOP", "stop", "  Unsubscribe ", "cancel", "End", "QUIT", "stopall", "revoke", "optout"],
)
def test_stop_words_opt_out_until_start(
    sandbox: RunningSandbox, receiver: WebhookReceiver, client: Client, word: str
) -> None:
    text_us(sandbox, word)
    assert receiver.requests(INBOUND_PATH)[0].form["OptOutType"] == "STOP"
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Reminder")
    assert exc.value.code == 21610
    # Only this pair is blocked.
    assert client.messages.create(to=CLIENT_NUMBER, from_=OTHER_NUMBER, body="x").sid
    assert client.messages.create(to=OTHER_NUMBER, from_=OUR_NUMBER, body="x").sid

    text_us(sandbox, "start")
    assert receiver.requests(INBOUND_PATH)[1].form["OptOutType"] == "START"
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Reminder").sid


@pytest.mark.parametrize("word", ["UNSTOP", "yes"])
def test_other_opt_in_words(sandbox: RunningSandbox, client: Client, word: str) -> None:
    text_us(sandbox, "STOP")
    text_us(sandbox, word)
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").sid


def test_a_sentence_containing_stop_is_not_an_opt_out(
    sandbox: RunningSandbox, receiver: WebhookReceiver, client: Client
) -> None:
    text_us(sandbox, "Please stop by at 3")
    assert "OptOutType" not in receiver.requests(INBOUND_PATH)[0].form
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").sid


def test_help_is_marked_but_does_not_opt_out(
    sandbox: RunningSandbox, receiver: WebhookReceiver, client: Client
) -> None:
    text_us(sandbox, "help")
    assert receiver.requests(INBOUND_PATH)[0].form["OptOutType"] == "HELP"
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").sid


def test_opt_out_blocks_sends_through_a_messaging_service(
    sandbox: RunningSandbox, client: Client
) -> None:
    text_us(sandbox, "STOP")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=CLIENT_NUMBER, messaging_service_sid="MG" + "b" * 32, body="x")
    assert exc.value.code == 21610


def test_inbound_needs_an_app_and_a_valid_sender(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(app_base_url=None)
    message = {"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": "hi"}
    assert sandbox.control("POST", "inbound", json=message).status_code == 409
    bad_sender = {"from": "12", "to": OUR_NUMBER, "body": "hi"}
    assert sandbox.control("POST", "inbound", json=bad_sender).status_code == 400
    assert sandbox.control("POST", "inbound", json={"from": CLIENT_NUMBER}).status_code == 400


def test_unreachable_app_is_reported(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(app_base_url="http://127.0.0.1:9")
    response = sandbox.control(
        "POST", "inbound", json={"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": "STOP"}
    )
    assert response.status_code == 502
    assert response.json()["status"] is None
    # Twilio applies the opt-out whatever the app answered.
    assert sandbox.state.opt_outs() == [{"from": OUR_NUMBER, "to": CLIENT_NUMBER}]
