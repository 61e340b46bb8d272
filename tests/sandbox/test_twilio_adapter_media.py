"""TwilioSmsSender.fetch_media, the product's adapter over the official SDK, against the sandbox
over real HTTP: the media a client sent, by the URL its webhook carried; nothing is patched."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.twilio.adapter import TwilioSmsSender
from proirp.integrations.twilio.media import MAX_MEDIA_BYTES, read_bounded
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    INBOUND_PATH,
    OUR_NUMBER,
    TWILIO_ORIGIN,
    RunningSandbox,
    WebhookReceiver,
)

PHOTO = bytes(range(256)) * 64  # every byte value: text decoding anywhere would show


def adapter(sandbox: RunningSandbox, *, auth_token: str = AUTH_TOKEN) -> TwilioSmsSender:
    return TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=auth_token,
        from_number=OUR_NUMBER,
        api_base=sandbox.api_base,
        timeout=0.5,
    )


def received_media_url(sandbox: RunningSandbox, receiver: WebhookReceiver) -> str:
    media = [
        {"content_type": "image/png", "content_base64": base64.b64encode(PHOTO).decode()},
        {"content_type": "text/vcard", "content_base64": base64.b64encode(b"BEGIN:VCARD").decode()},
    ]
    message = {"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": "", "media": media}
    assert sandbox.control("POST", "inbound", json=message).status_code == 200
    return receiver.requests(INBOUND_PATH)[-1].form["MediaUrl0"]


def test_fetches_the_media_a_webhook_named(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    url = received_media_url(sandbox, receiver)
    vcard_url = receiver.requests(INBOUND_PATH)[-1].form["MediaUrl1"]
    sender = adapter(sandbox)

    photo = sender.fetch_media(url)
    assert (photo.content_type, photo.content) == ("image/png", PHOTO)
    assert sender.fetch_media(vcard_url).content == b"BEGIN:VCARD"
    assert "content=" not in repr(photo)  # a client's file never reaches a log through repr


def test_twilios_own_media_urls_go_to_the_configured_api(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    url = received_media_url(sandbox, receiver)
    as_twilio_sends_it = TWILIO_ORIGIN + url.removeprefix(sandbox.api_base)
    assert adapter(sandbox).fetch_media(as_twilio_sends_it).content == PHOTO


Forge = Callable[[str, RunningSandbox, WebhookReceiver], str]
FORGERIES: dict[str, Forge] = {
    "other-host": lambda url, sandbox, receiver: receiver.base_url + url.removeprefix(sandbox.root),
    "other-scheme": lambda url, sandbox, receiver: url.replace("http://", "https://"),
    "look-alike-host": lambda url, sandbox, receiver: (
        "https://api.twilio.com.example.net" + url.removeprefix(sandbox.api_base)
    ),
    "other-account": lambda url, sandbox, receiver: url.replace(ACCOUNT_SID, "AC" + "f" * 32),
    "query": lambda url, sandbox, receiver: url + "?x=1",
    "not-media": lambda url, sandbox, receiver: url.rsplit("/Media/", 1)[0] + ".json",
    "dot-segments": lambda url, sandbox, receiver: url.replace("/Media/", "/Media/../Media/"),
    "file": lambda url, sandbox, receiver: "file:///etc/passwd",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_url_off_the_twilio_api_is_refused_without_a_request(
    sandbox: RunningSandbox, receiver: WebhookReceiver, forgery: str
) -> None:
    url = received_media_url(sandbox, receiver)
    forged = FORGERIES[forgery](url, sandbox, receiver)
    with pytest.raises(ProviderPermanentError) as refused:
        adapter(sandbox).fetch_media(forged)
    # No answer was read: a fetch would carry the answer's status as the code.
    assert refused.value.code is None
    assert "not one of our account's media files" in refused.value.reason


def test_unknown_media_and_wrong_credentials_are_permanent(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    url = received_media_url(sandbox, receiver)
    with pytest.raises(ProviderPermanentError) as unknown:
        adapter(sandbox).fetch_media(url.rsplit("/", 1)[0] + "/ME" + "0" * 32)
    assert (unknown.value.code, unknown.value.reason) == ("20404", "Twilio has no such media file.")
    with pytest.raises(ProviderPermanentError) as refused:
        adapter(sandbox, auth_token="wrong-token").fetch_media(url)
    assert refused.value.code == "20003"


def test_a_slow_api_is_a_temporary_error(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    url = received_media_url(sandbox, receiver)
    sandbox.control("POST", "config", json={"latency_ms": 2000})
    with pytest.raises(ProviderTemporaryError):
        adapter(sandbox).fetch_media(url)


def test_reading_stops_past_five_megabytes() -> None:
    chunk = b"\x00" * (1024 * 1024)
    assert read_bounded([chunk] * 5, declared_length=None) == chunk * 5
    assert read_bounded([chunk] * 5 + [b"\x00"], declared_length=None) is None
    assert read_bounded([], declared_length=str(MAX_MEDIA_BYTES + 1)) is None
