"""The senders for this process: the real Twilio and SendGrid, or the sandbox's.

Dispatch sees them only as the `SmsSender` and `EmailSender` Protocols.
"""

from __future__ import annotations

import threading

from proirp.config import Settings
from proirp.integrations.messaging import EmailSender, SmsSender
from proirp.integrations.sendgrid.adapter import SendGridEmailSender
from proirp.integrations.twilio.adapter import TwilioSmsSender

_lock = threading.Lock()
_senders: dict[tuple[str, ...], TwilioSmsSender] = {}
_email_senders: dict[tuple[str, ...], SendGridEmailSender] = {}


def sms_sender(settings: Settings) -> SmsSender:
    """One adapter (and connection pool) per set of credentials, shared by the worker's threads."""
    twilio = settings.twilio_connection()
    key = (
        twilio.account_sid,
        twilio.auth_token,
        twilio.api_base,
        twilio.from_number,
        str(settings.send_timeout_seconds),
    )
    with _lock:
        if key not in _senders:
            _senders[key] = TwilioSmsSender(
                account_sid=twilio.account_sid,
                auth_token=twilio.auth_token,
                from_number=twilio.from_number,
                api_base=twilio.api_base,
                timeout=settings.send_timeout_seconds,
            )
        return _senders[key]


def email_sender(settings: Settings) -> EmailSender:
    """One SendGrid adapter per API key and base."""
    sendgrid = settings.sendgrid_connection()
    key = (sendgrid.api_key, sendgrid.api_base, str(settings.send_timeout_seconds))
    with _lock:
        if key not in _email_senders:
            _email_senders[key] = SendGridEmailSender(
                api_key=sendgrid.api_key,
                api_base=sendgrid.api_base,
                timeout=settings.send_timeout_seconds,
            )
        return _email_senders[key]


def status_callback_url(settings: Settings, comm_id: str) -> str:
    """Where Twilio reports this message's status; our reference travels in it."""
    return f"{settings.base_url}/webhooks/twilio/status?ref={comm_id}"
