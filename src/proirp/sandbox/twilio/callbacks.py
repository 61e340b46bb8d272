"""Twilio-signed webhook POSTs: status callbacks and inbound messages, as Twilio sends them."""

from __future__ import annotations

from collections.abc import Mapping

import requests
from twilio.request_validator import RequestValidator

from proirp.sandbox.dispatch import WebhookResult
from proirp.sandbox.twilio.media import media_path
from proirp.sandbox.twilio.messages import API_VERSION, MessageRecord
from proirp.sandbox.twilio.numbers import Keyword, country_of

WEBHOOK_TIMEOUT_SECONDS = 5.0


def post_signed(url: str, params: Mapping[str, str], *, auth_token: str) -> WebhookResult:
    """POST `params` form-encoded to `url`, signed with X-Twilio-Signature as Twilio signs.

    Never raises for transport problems: a webhook that cannot be reached is a result.
    """
    signature = RequestValidator(auth_token).compute_signature(url, dict(params))
    try:
        response = requests.post(
            url,
            data=dict(params),
            headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return WebhookResult(status=None, text="", error=type(error).__name__)
    return WebhookResult(status=response.status_code, text=response.text)


def status_callback_params(record: MessageRecord) -> dict[str, str]:
    """The form Twilio POSTs to a message's StatusCallback URL at each status change."""
    params = {
        "MessageSid": record.sid,
        "SmsSid": record.sid,
        "MessageStatus": record.status,
        "SmsStatus": record.status,
        "AccountSid": record.account_sid,
        "To": record.to,
        "ApiVersion": API_VERSION,
    }
    if record.from_ is not None:
        params["From"] = record.from_
    if record.messaging_service_sid is not None:
        params["MessagingServiceSid"] = record.messaging_service_sid
    if record.error_code is not None:
        params["ErrorCode"] = str(record.error_code)
    return params


def inbound_params(
    record: MessageRecord, keyword: Keyword | None, *, api_root: str
) -> dict[str, str]:
    """The form Twilio POSTs to a number's incoming-message webhook.

    Each attachment N (from 0) adds MediaContentType{N} and MediaUrl{N}, the URL of the media's
    content under `api_root` (where the Twilio API is reached).
    """
    params = {
        "MessageSid": record.sid,
        "SmsSid": record.sid,
        "SmsMessageSid": record.sid,
        "AccountSid": record.account_sid,
        "From": record.from_ or "",
        "To": record.to,
        "Body": record.body,
        "NumMedia": str(len(record.media)),
        "NumSegments": str(record.num_segments),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
        "FromCountry": country_of(record.from_ or ""),
        "ToCountry": country_of(record.to),
        # Twilio sends the geography it knows and empty strings for the rest.
        **dict.fromkeys(("FromCity", "FromState", "FromZip", "ToCity", "ToState", "ToZip"), ""),
    }
    for index, media in enumerate(record.media):
        params[f"MediaContentType{index}"] = media.content_type
        params[f"MediaUrl{index}"] = api_root + media_path(
            record.account_sid, record.sid, media.sid
        )
    if keyword is not None:
        params["OptOutType"] = keyword  # Advanced Opt-Out adds this for its keywords
    return params
