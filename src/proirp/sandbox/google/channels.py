"""Push notifications, as Google Calendar sends them: channels made by events.watch, ended by
channels.stop or when they expire, and the POST each live channel of a calendar receives when
one of its events changes.

A notification has no body; everything is in headers: X-Goog-Channel-ID, X-Goog-Channel-Token
(the token given to watch, if any), X-Goog-Channel-Expiration, X-Goog-Resource-ID,
X-Goog-Resource-URI, X-Goog-Resource-State (`sync` once when the channel opens, then `exists`)
and X-Goog-Message-Number (1, 2, … per channel). Like Google, the sandbox needs an https address;
unlike it, it also takes plain http to a loopback host (a product on the same machine).
Not thread-safe on its own: GoogleSandbox calls it under its state lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from proirp.sandbox.dispatch import Dispatcher, WebhookResult
from proirp.sandbox.google.errors import GoogleApiError, invalid, required

# Calendar's default (and here longest) channel lifetime: 604,800 seconds.
MAX_TTL_SECONDS = 604_800
NOTIFY_TIMEOUT_SECONDS = 5.0
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
RESOURCE_URI = "https://www.googleapis.com/calendar/v3/calendars/{}/events?alt=json"


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    account: str
    address: str
    token: str | None
    expiration_ms: int
    messages: int = 0

    def resource(self) -> dict[str, Any]:
        """The Channel resource events.watch answers with."""
        answer: dict[str, Any] = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": RESOURCE_URI.format(self.calendar_id),
            "expiration": str(self.expiration_ms),
        }
        if self.token is not None:
            answer["token"] = self.token
        return answer

    def summary(self) -> dict[str, Any]:
        """For the control routes: never the token."""
        return {
            "id": self.id,
            "resource_id": self.resource_id,
            "calendar_id": self.calendar_id,
            "address": self.address,
            "expiration": self.expiration_ms,
            "messages": self.messages,
        }


def _address(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise required("Required")
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return value
    raise GoogleApiError(
        400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + parts.scheme
    )


class ChannelStore:
    """Live channels by id; posts their notifications on the dispatcher's threads."""

    def __init__(self, dispatcher: Dispatcher, count: Callable[[str], None]) -> None:
        self._channels: dict[str, Channel] = {}
        self._dispatcher = dispatcher
        self._count = count  # takes the sandbox's lock: called only off it, on delivery

    def watch(self, account: str, calendar_id: str, body: object, now: float) -> Channel:
        """events.watch: a new channel on the calendar, then its `sync` message."""
        if not isinstance(body, dict):
            raise GoogleApiError(400, "parseError", "Parse Error")
        channel_id = body.get("id")
        if not isinstance(channel_id, str) or not channel_id:
            raise required("Required")
        if body.get("type") not in ("web_hook", "webhook"):
            raise invalid("Invalid value for: type")
        address = _address(body.get("address"))
        if channel_id in self._channels:
            raise GoogleApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
        token = body.get("token")
        if token is not None and not isinstance(token, str):
            raise invalid()
        ttl = MAX_TTL_SECONDS
        params = body.get("params")
        if isinstance(params, dict) and params.get("ttl") is not None:
            text = str(params["ttl"])
            if not text.isdigit():
                raise invalid("Invalid value for: ttl")
            ttl = min(int(text), MAX_TTL_SECONDS)
        expiration = int((now + ttl) * 1000)
        if isinstance(body.get("expiration"), (str, int)) and str(body["expiration"]).isdigit():
            expiration = min(expiration, int(body["expiration"]))
        channel = Channel(
            id=channel_id,
            resource_id=secrets.token_urlsafe(20),
            calendar_id=calendar_id,
            account=account,
            address=address,
            token=token,
            expiration_ms=expiration,
        )
        self._channels[channel_id] = channel
        self._post(channel, "sync")
        return channel

    def stop(self, account: str, body: object) -> None:
        """channels.stop: 404 for a channel this account does not have."""
        if not isinstance(body, dict):
            raise GoogleApiError(400, "parseError", "Parse Error")
        channel = self._channels.get(str(body.get("id") or ""))
        if (
            channel is None
            or channel.account != account
            or channel.resource_id != body.get("resourceId")
        ):
            raise GoogleApiError(404, "notFound", f"Channel '{body.get('id')}' not found")
        del self._channels[channel.id]

    def changed(self, calendar_id: str, now: float) -> None:
        """An event of the calendar changed: an `exists` message on each live channel."""
        for channel in list(self._channels.values()):
            if channel.expiration_ms <= now * 1000:
                del self._channels[channel.id]  # expired: Google sends nothing more
            elif channel.calendar_id == calendar_id:
                self._post(channel, "exists")

    def _post(self, channel: Channel, state: str) -> None:
        channel.messages += 1
        expiration = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": RESOURCE_URI.format(channel.calendar_id),
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        address = channel.address
        self._dispatcher.call_later(0, lambda: self._deliver(address, headers))

    def _deliver(self, address: str, headers: dict[str, str]) -> None:
        result = post_notification(address, headers)
        self._count("push_sent" if result.ok else "push_failed")

    def summaries(self) -> list[dict[str, Any]]:
        return [channel.summary() for channel in self._channels.values()]


def post_notification(address: str, headers: dict[str, str]) -> WebhookResult:
    """POST one notification (no body). Never raises for transport problems."""
    try:
        response = requests.post(
            address, headers=headers, timeout=NOTIFY_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as error:
        return WebhookResult(status=None, text="", error=type(error).__name__)
    return WebhookResult(status=response.status_code, text="")
