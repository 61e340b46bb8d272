"""Push in the sandbox, as Google and Graph do it: events.watch channels and channels.stop
(Google's headers on each notification: channel id and token, resource id and state, message
number), and Graph subscriptions (the validation handshake on creation, renewal up to 10,080
minutes, deletion, `value` batches with subscriptionId and clientState, lifecycle
notifications)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.sandbox.conftest import (
    CLINICIAN,
    MAILBOX,
    RunningGoogle,
    RunningMicrosoft,
    WebhookReceiver,
)

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
HOOK = "/webhooks/google/calendar"
GRAPH_HOOK = "/webhooks/microsoft/calendar"
LIFECYCLE = "/webhooks/microsoft/calendar/lifecycle"


def _watch(google: RunningGoogle, token: str, receiver: WebhookReceiver, **body: Any) -> Any:
    channel = {
        "id": "channel-1",
        "type": "web_hook",
        "address": receiver.base_url + HOOK,
        "token": "secret-of-the-channel",
        **body,
    }
    return requests.post(
        f"{google.calendar_base}/calendars/primary/events/watch",
        json=channel,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_google_watch_sync_then_exists_and_stop(
    google: RunningGoogle, receiver: WebhookReceiver
) -> None:
    token: str = google.connect()["access_token"]
    made = _watch(google, token, receiver, params={"ttl": "3600"})
    assert made.status_code == 200, made.text
    channel = made.json()
    assert channel["kind"] == "api#channel" and channel["id"] == "channel-1"
    assert channel["resourceId"] and int(channel["expiration"]) > 0
    (handshake,) = receiver.wait_for(HOOK, 1)
    headers = {k.lower(): v for k, v in handshake.headers.items()}
    assert headers["x-goog-resource-state"] == "sync"
    assert headers["x-goog-message-number"] == "1"
    assert headers["x-goog-channel-token"] == "secret-of-the-channel"
    assert headers["x-goog-resource-id"] == channel["resourceId"]
    assert handshake.body == b""
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)
    google.control(
        "POST", "events", json={"account": CLINICIAN, "count": 1, "start": start.isoformat()}
    )
    second = receiver.wait_for(HOOK, 2)[1]
    second_headers = {k.lower(): v for k, v in second.headers.items()}
    assert second_headers["x-goog-resource-state"] == "exists"
    assert second_headers["x-goog-message-number"] == "2"
    assert second_headers["x-goog-channel-id"] == "channel-1"
    stop = requests.post(
        f"{google.calendar_base}/channels/stop",
        json={"id": "channel-1", "resourceId": channel["resourceId"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert stop.status_code == 204
    again = requests.post(
        f"{google.calendar_base}/channels/stop",
        json={"id": "channel-1", "resourceId": channel["resourceId"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert again.status_code == 404


def test_google_watch_refusals(google: RunningGoogle, receiver: WebhookReceiver) -> None:
    token: str = google.connect()["access_token"]
    not_https = _watch(google, token, receiver, address="http://example.com/hook")
    assert not_https.status_code == 400
    assert not_https.json()["error"]["errors"][0]["reason"] == "push.webhookUrlNotHttps"
    assert _watch(google, token, receiver).status_code == 200
    duplicate = _watch(google, token, receiver)
    assert duplicate.json()["error"]["errors"][0]["reason"] == "channelIdNotUnique"


def _subscribe(
    microsoft: RunningMicrosoft, token: str, receiver: WebhookReceiver, **body: Any
) -> Any:
    expires = (datetime.now(UTC) + timedelta(days=6)).isoformat().replace("+00:00", "Z")
    subscription = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.base_url + GRAPH_HOOK,
        "lifecycleNotificationUrl": receiver.base_url + LIFECYCLE,
        "resource": "me/events",
        "expirationDateTime": expires,
        "clientState": "state-of-the-subscription",
        **body,
    }
    return microsoft.graph("POST", "subscriptions", token, json=subscription)


def test_graph_subscription_handshake_notifications_renewal_and_delete(
    microsoft: RunningMicrosoft, receiver: WebhookReceiver
) -> None:
    token: str = microsoft.connect()["access_token"]
    made = _subscribe(microsoft, token, receiver)
    assert made.status_code == 201, made.text
    subscription = made.json()
    assert subscription["resource"] == "me/events" and subscription["id"]
    handshakes = [r for r in receiver.received if "validationToken=" in r.path]
    assert {r.path.split("?")[0] for r in handshakes} == {GRAPH_HOOK, LIFECYCLE}
    microsoft.control("POST", "events", json={"account": MAILBOX, "count": 2})
    batches = receiver.wait_for(GRAPH_HOOK, 1)
    items = [item for batch in batches for item in json.loads(batch.body)["value"]]
    assert len(items) == 2
    assert {item["changeType"] for item in items} == {"created"}
    assert items[0]["subscriptionId"] == subscription["id"]
    assert items[0]["clientState"] == "state-of-the-subscription"
    assert items[0]["resource"].startswith("Users/") and items[0]["resourceData"]["id"]
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    renewed = microsoft.graph(
        "PATCH", f"subscriptions/{subscription['id']}", token, json={"expirationDateTime": later}
    )
    assert renewed.status_code == 200
    too_late = (datetime.now(UTC) + timedelta(days=8)).isoformat().replace("+00:00", "Z")
    refused = microsoft.graph(
        "PATCH", f"subscriptions/{subscription['id']}", token, json={"expirationDateTime": too_late}
    )
    assert refused.status_code == 400 and "10080" in refused.json()["error"]["message"]
    lifecycle = microsoft.control(
        "POST",
        f"subscriptions/{subscription['id']}/lifecycle",
        json={"lifecycleEvent": "reauthorizationRequired"},
    )
    assert lifecycle.status_code == 200
    (notice,) = receiver.wait_for(LIFECYCLE, 1)
    assert json.loads(notice.body)["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
    gone = microsoft.graph("DELETE", f"subscriptions/{subscription['id']}", token)
    assert gone.status_code == 204
    assert (
        microsoft.graph("DELETE", f"subscriptions/{subscription['id']}", token).status_code == 404
    )


def test_graph_refuses_a_subscription_whose_address_fails_the_handshake(
    microsoft: RunningMicrosoft, receiver: WebhookReceiver
) -> None:
    token: str = microsoft.connect()["access_token"]
    receiver.script(GRAPH_HOOK, (200, "not the token"))
    refused = _subscribe(microsoft, token, receiver)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"
