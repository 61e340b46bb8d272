"""Graph change notifications, as Microsoft Graph sends them for Outlook events: subscriptions
made with POST /subscriptions (after the validation handshake: Graph POSTs
`?validationToken=…` to the notification URL, and to the lifecycle URL if one is given, and
wants the token back as text/plain with a 200 within 10 seconds), renewed with PATCH (at most
10,080 minutes ahead, Graph's limit for events), ended with DELETE; then a POST of
`{"value": [...]}` to the notification URL for each batch of changes to the mailbox, each item
with subscriptionId, clientState, changeType, resource and resourceData; and lifecycle
notifications (reauthorizationRequired, subscriptionRemoved, missed) to the lifecycle URL.

Like Graph, the sandbox needs an https address; unlike it, it also takes plain http to a
loopback host (a product on the same machine). Not thread-safe on its own: MicrosoftSandbox
calls it under its state lock, except `validate` and the deliveries, which run off it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from proirp.sandbox.dispatch import Dispatcher
from proirp.sandbox.microsoft.errors import GraphError, bad_request

MAX_LIFETIME = timedelta(minutes=10080)
VALIDATION_TIMEOUT_SECONDS = 10.0
NOTIFY_TIMEOUT_SECONDS = 5.0
BATCH_DELAY_SECONDS = 0.05  # changes within this travel in one POST
MAX_BATCH = 100
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
RESOURCES = frozenset({"me/events", "/me/events", "me/calendar/events", "/me/calendar/events"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_CLIENT_STATE = 128


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Subscription:
    id: str
    account: str
    oid: str
    tenant_id: str
    application_id: str
    change_types: frozenset[str]
    resource: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    pending: list[dict[str, Any]] = field(default_factory=list)

    def resource_view(self, context: str) -> dict[str, Any]:
        """The subscription resource Graph answers with."""
        return {
            "@odata.context": context,
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _graph_time(self.expires),
            "creatorId": self.oid,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": None,
        }

    def summary(self) -> dict[str, Any]:
        """For the control routes: never the clientState."""
        return {
            "id": self.id,
            "account": self.account,
            "resource": self.resource,
            "notification_url": self.notification_url,
            "lifecycle_url": self.lifecycle_url,
            "expires": _graph_time(self.expires),
        }


def _address(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{name} is required.", code="InvalidRequest")
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return value
    raise bad_request(f"Invalid {name}: it must be an https URL.", code="InvalidRequest")


def _expiry(value: object, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(
            "expirationDateTime is not a date and time.", code="InvalidRequest"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= now:
        raise bad_request(
            "Subscription expiration can only be in the future.", code="ExtensionError"
        )
    if moment > now + MAX_LIFETIME:
        raise bad_request(
            "Subscription expiration can only be 10080 minutes in the future.",
            code="ExtensionError",
        )
    return moment


def check_new(
    body: object, *, account: str, oid: str, tenant_id: str, application_id: str, now: datetime
) -> Subscription:
    """A subscription from a POST /subscriptions body, checked as Graph checks (before the
    handshake)."""
    if not isinstance(body, dict):
        raise bad_request("The request body is not a subscription.", code="InvalidRequest")
    kinds = frozenset(str(body.get("changeType") or "").split(","))
    if not kinds or not kinds <= CHANGE_TYPES:
        raise bad_request("changeType must be created, updated and/or deleted.")
    resource = body.get("resource")
    if resource not in RESOURCES:
        raise bad_request("Resource is not supported by the sandbox: use me/events.")
    client_state = body.get("clientState")
    if client_state is not None and (
        not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
    ):
        raise bad_request("clientState can be at most 128 characters.")
    lifecycle = body.get("lifecycleNotificationUrl")
    return Subscription(
        id=str(uuid.uuid4()),
        account=account,
        oid=oid,
        tenant_id=tenant_id,
        application_id=application_id,
        change_types=kinds,
        resource=str(resource),
        notification_url=_address(body.get("notificationUrl"), "notificationUrl"),
        lifecycle_url=None
        if lifecycle is None
        else _address(lifecycle, "lifecycleNotificationUrl"),
        client_state=client_state,
        expires=_expiry(body.get("expirationDateTime"), now),
    )


def validate(subscription: Subscription) -> None:
    """The handshake: each address must echo a fresh validationToken (200, text/plain)."""
    for url in filter(None, (subscription.notification_url, subscription.lifecycle_url)):
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"  # noqa: E501
        try:
            response = requests.post(
                url,
                params={"validationToken": token},
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=VALIDATION_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            ok = response.status_code == 200 and response.text == token
        except requests.RequestException:
            ok = False
        if not ok:
            raise bad_request(
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
                code="ValidationError",
            )


class SubscriptionStore:
    """Subscriptions by id; batches of notifications posted on the dispatcher's threads."""

    def __init__(
        self, dispatcher: Dispatcher, count: Callable[[str], None], lock: threading.Lock
    ) -> None:
        self._subscriptions: dict[str, Subscription] = {}
        self._dispatcher = dispatcher
        self._lock = lock  # the sandbox's state lock, taken by _flush
        self._count = count  # takes the sandbox's lock: called only off it, on delivery

    def add(self, subscription: Subscription) -> None:
        self._subscriptions[subscription.id] = subscription

    def owned(self, subscription_id: str, account: str) -> Subscription:
        found = self._subscriptions.get(subscription_id)
        if found is None or found.account != account:
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        return found

    def renew(
        self, subscription_id: str, account: str, body: object, now: datetime
    ) -> Subscription:
        found = self.owned(subscription_id, account)
        if not isinstance(body, dict) or "expirationDateTime" not in body:
            raise bad_request("expirationDateTime is required.", code="InvalidRequest")
        found.expires = _expiry(body["expirationDateTime"], now)
        return found

    def remove(self, subscription_id: str, account: str) -> None:
        self.owned(subscription_id, account)
        del self._subscriptions[subscription_id]

    def changed(self, account: str, event_id: str, etag: str, kind: str, now: datetime) -> None:
        """An event of the mailbox changed: queue an item for each live subscription to it."""
        for subscription in list(self._subscriptions.values()):
            if subscription.expires <= now:
                del self._subscriptions[subscription.id]  # expired: Graph sends nothing more
                continue
            if subscription.account != account or kind not in subscription.change_types:
                continue
            path = f"Users/{subscription.oid}/Events/{event_id}"
            item = {
                "subscriptionId": subscription.id,
                "subscriptionExpirationDateTime": _graph_time(subscription.expires),
                "changeType": kind,
                "resource": path,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": path,
                    "@odata.etag": etag,
                    "id": event_id,
                },
                "clientState": subscription.client_state,
                "tenantId": subscription.tenant_id,
            }
            if not subscription.pending:
                self._dispatcher.call_later(BATCH_DELAY_SECONDS, self._flusher(subscription))
            subscription.pending.append(item)

    def lifecycle(self, subscription_id: str, event: str) -> Subscription:
        """Send a lifecycle notification (as Graph would); subscriptionRemoved ends it."""
        found = self._subscriptions.get(subscription_id)
        if found is None:
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        if event not in LIFECYCLE_EVENTS:
            raise bad_request(
                "lifecycleEvent must be reauthorizationRequired, subscriptionRemoved or missed."
            )
        if found.lifecycle_url is None:
            raise bad_request("The subscription has no lifecycleNotificationUrl.")
        item = {
            "subscriptionId": found.id,
            "subscriptionExpirationDateTime": _graph_time(found.expires),
            "tenantId": found.tenant_id,
            "clientState": found.client_state,
            "lifecycleEvent": event,
        }
        if event == "subscriptionRemoved":
            del self._subscriptions[found.id]
        url = found.lifecycle_url
        self._dispatcher.call_later(0, lambda: self._post(url, [item]))
        return found

    def _flusher(self, subscription: Subscription) -> Callable[[], None]:
        return lambda: self._flush(subscription)

    def _flush(self, subscription: Subscription) -> None:
        with self._lock:
            items, subscription.pending = subscription.pending, []
        for start in range(0, len(items), MAX_BATCH):
            self._post(subscription.notification_url, items[start : start + MAX_BATCH])

    def _post(self, url: str, items: list[dict[str, Any]]) -> None:
        try:
            response = requests.post(
                url, json={"value": items}, timeout=NOTIFY_TIMEOUT_SECONDS, allow_redirects=False
            )
            ok = 200 <= response.status_code < 300
        except requests.RequestException:
            ok = False
        self._count("push_sent" if ok else "push_failed")

    def summaries(self) -> list[dict[str, Any]]:
        return [s.summary() for s in self._subscriptions.values()]
