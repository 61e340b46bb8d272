"""Simulated inbound MMS (Twilio's media parameters, the Media API behind them) and the retry of
an inbound webhook."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from proirp.config import Settings
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    INBOUND_PATH,
    OUR_NUMBER,
    RunningSandbox,
    StartSandbox,
    WebhookReceiver,
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
PDF = b"%PDF-1.4\n" + b"\x00\x01\x02" * 100 + b"%%EOF"


def item(content_type: str, content: bytes) -> dict[str, str]:
    return {"content_type": content_type, "content_base64": base64.b64encode(content).decode()}


def send_mms(
    sandbox: RunningSandbox, media: list[dict[str, str]], *, body: str = "Photo of my form"
) -> requests.Response:
    message = {"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": body, "media": media}
    return sandbox.control("POST", "inbound", json=message)


def media_url_pattern(sandbox: RunningSandbox, message_sid: str) -> re.Pattern[str]:
    prefix = f"{sandbox.api_base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/"
    return re.compile(re.escape(prefix) + r"ME[0-9a-f]{32}")


def test_mms_carries_twilios_media_parameters(
    sandbox: RunningSandbox, receiver: WebhookReceiver, client: Client
) -> None:
    response = send_mms(sandbox, [item("image/jpeg", JPEG), item("application/pdf", PDF)])

    assert response.status_code == 200, response.text
    sid = response.json()["message_sid"]
    assert re.fullmatch(r"MM[0-9a-f]{32}", sid)
    [request] = receiver.requests(INBOUND_PATH)
    form = request.form
    assert RequestValidator(AUTH_TOKEN).validate(
        request.url, form, request.headers["X-Twilio-Signature"]
    )
    assert form["MessageSid"] == form["SmsMessageSid"] == sid
    assert form["NumMedia"] == "2"
    assert (form["MediaContentType0"], form["MediaContentType1"]) == (
        "image/jpeg",
        "application/pdf",
    )
    pattern = media_url_pattern(sandbox, sid)
    assert pattern.fullmatch(form["MediaUrl0"]) and pattern.fullmatch(form["MediaUrl1"])
    assert form["MediaUrl0"] != form["MediaUrl1"]
    assert "MediaUrl2" not in form
    # The message and its Media resources, through the official SDK.
    assert client.messages(sid).fetch().num_media == "2"
    listed = client.messages(sid).media.list()
    assert [(m.content_type, m.parent_sid, m.account_sid) for m in listed] == [
        ("image/jpeg", sid, ACCOUNT_SID),
        ("application/pdf", sid, ACCOUNT_SID),
    ]
    first_sid = form["MediaUrl0"].rsplit("/", 1)[1]
    fetched = client.messages(sid).media(first_sid).fetch()
    assert fetched.sid == first_sid
    assert (
        fetched.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/{first_sid}.json"
    )
    assert fetched.date_created is not None


def test_an_sms_has_no_media(sandbox: RunningSandbox, receiver: WebhookReceiver) -> None:
    response = send_mms(sandbox, [], body="no picture")
    assert response.json()["message_sid"].startswith("SM")
    form = receiver.requests(INBOUND_PATH)[0].form
    assert form["NumMedia"] == "0"
    assert not [name for name in form if name.startswith("Media")]


def test_media_content_is_served_with_the_accounts_credentials_only(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    send_mms(sandbox, [item("image/jpeg", JPEG), item("application/pdf", PDF)])
    form = receiver.requests(INBOUND_PATH)[0].form

    jpeg = requests.get(form["MediaUrl0"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert jpeg.status_code == 200
    assert (jpeg.headers["content-type"], jpeg.content) == ("image/jpeg", JPEG)
    pdf = requests.get(form["MediaUrl1"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert (pdf.headers["content-type"], pdf.content) == ("application/pdf", PDF)

    for auth in [None, (ACCOUNT_SID, "wrong-token")]:
        for url in [form["MediaUrl0"], form["MediaUrl0"] + ".json"]:
            refused = requests.get(url, auth=auth, timeout=10)
            assert refused.status_code == 401
            assert refused.json()["code"] == 20003
            assert JPEG not in refused.content


def test_unknown_media_is_twilios_404(sandbox: RunningSandbox, receiver: WebhookReceiver) -> None:
    sid = send_mms(sandbox, [item("image/png", b"\x89PNG\r\n\x1a\n")]).json()["message_sid"]
    media_url = receiver.requests(INBOUND_PATH)[0].form["MediaUrl0"]
    unknown_media = media_url.rsplit("/", 1)[0] + "/ME" + "0" * 32
    unknown_message = media_url.replace(sid, "MM" + "0" * 32)
    for url in [unknown_media, unknown_media + ".json", unknown_message, unknown_message + ".json"]:
        answer = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
        assert answer.status_code == 404, url
        body: dict[str, Any] = answer.json()
        assert (body["code"], body["status"]) == (20404, 404)
        assert body["more_info"] == "https://www.twilio.com/docs/errors/20404"
    listing = sandbox.messages_url(f"/{'MM' + '0' * 32}/Media.json")
    assert requests.get(listing, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10).status_code == 404


def test_the_ledger_counts_media_but_never_holds_it(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    send_mms(sandbox, [item("image/gif", b"GIF89a-sandbox-bytes")])
    answer = sandbox.control("GET", "ledger", params={"include_inbound": "true"})
    [entry] = answer.json()["messages"]
    assert (entry["direction"], entry["num_media"]) == ("inbound", "1")
    encoded = base64.b64encode(b"GIF89a-sandbox-bytes").decode()
    assert "GIF89a" not in answer.text and encoded not in answer.text
    assert "media" not in entry and "webhook_params" not in entry


def test_a_retry_posts_the_same_signed_form_again(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    receiver.script(INBOUND_PATH, (500, "oops"), (200, "<Response/>"))
    first = send_mms(sandbox, [item("image/jpeg", JPEG)])
    assert first.json()["status"] == 500
    sid = first.json()["message_sid"]

    retried = sandbox.control("POST", f"inbound/{sid}/retry")

    assert retried.status_code == 200
    assert retried.json() == {"status": 200, "twiml": "<Response/>", "message_sid": sid}
    original, again = receiver.requests(INBOUND_PATH)
    assert again.form["MessageSid"] == sid
    assert again.body == original.body
    assert again.headers["X-Twilio-Signature"] == original.headers["X-Twilio-Signature"]
    assert sandbox.state.stats()["inbound_retries"] == 1
    assert sandbox.state.stats()["inbound"] == 1  # still one message
    assert len(sandbox.state.ledger(include_inbound=True)) == 1


def test_a_retry_needs_an_inbound_message_and_credentials(
    sandbox: RunningSandbox, client: Client
) -> None:
    assert sandbox.control("POST", f"inbound/SM{'0' * 32}/retry").status_code == 404
    outbound = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Reminder").sid
    answer = sandbox.control("POST", f"inbound/{outbound}/retry")
    assert answer.status_code == 404
    assert answer.json() == {"message": "no inbound message has this sid", "status": 404}
    sid = send_mms(sandbox, []).json()["message_sid"]
    refused = sandbox.control("POST", f"inbound/{sid}/retry", auth=None)
    assert (refused.status_code, refused.json()["code"]) == (401, 20003)


BIG_IMAGE = b"\x00" * (5 * 1024 * 1024 + 1)
BIG_OTHER = b"\x00" * (500 * 1024 + 1)


@pytest.mark.parametrize(
    ("media", "field"),
    [
        ([item("image/jpeg", JPEG)] * 11, "media: at most 10 items"),
        ([item("image/jpeg", JPEG), item("application/zip", PDF)], "media.1.content_type"),
        ([item("image/png", BIG_IMAGE)], "media.0.content_base64"),
        ([item("video/mp4", BIG_OTHER)], "media.0.content_base64"),
        (
            [{"content_type": "image/jpeg", "content_base64": "not base64!"}],
            "media.0.content_base64",
        ),
        ([item("image/jpeg", b"")], "media.0.content_base64"),
        ([{"content_base64": "AAAA"}], "media.0.content_type"),
        ([{**item("image/jpeg", JPEG), "filename": "x.jpg"}], "media.0.filename"),
    ],
)
def test_media_twilio_would_not_carry_is_refused(
    sandbox: RunningSandbox, receiver: WebhookReceiver, media: list[dict[str, str]], field: str
) -> None:
    answer = send_mms(sandbox, media)
    assert answer.status_code == 400
    assert field in answer.json()["message"]
    assert receiver.requests(INBOUND_PATH) == []
    assert sandbox.state.ledger(include_inbound=True) == []


def test_images_may_be_larger_than_other_media(sandbox: RunningSandbox) -> None:
    assert send_mms(sandbox, [item("image/jpeg", BIG_OTHER)]).status_code == 200
    assert send_mms(sandbox, [item("IMAGE/PNG", BIG_OTHER)]).status_code == 200


def test_a_sandbox_that_knows_where_the_product_reaches_it_names_that_in_media_urls(
    start_sandbox: StartSandbox, receiver: WebhookReceiver
) -> None:
    # Mounted in the product, the sandbox is driven at localhost or 127.0.0.1 alike; the
    # product fetches media from its own TWILIO_API_BASE, so the MediaUrls must name that.
    root = "http://localhost:8080/sandbox/twilio"
    sandbox = start_sandbox(twilio_api_root=root)
    sid = send_mms(sandbox, [item("image/png", b"\x89PNG\r\n\x1a\n")]).json()["message_sid"]
    form = receiver.requests(INBOUND_PATH)[0].form
    assert form["MediaUrl0"].startswith(f"{root}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/")


def test_the_product_mounts_its_sandbox_with_its_own_twilio_api_base(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    config = app.state.sandbox.config
    assert config.twilio_api_root == settings.twilio_connection().api_base
