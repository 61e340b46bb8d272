"""Graph's subscription calls (POST, PATCH, DELETE /subscriptions) and the notifications they
lead to, as a part of MicrosoftSandbox (a mixin: it owns the lock, the accounts and the
subscription store). The handshake runs between `new_subscription` and `add_subscription`, off
the lock (subscriptions.validate)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.microsoft.accounts import Account
from proirp.sandbox.microsoft.errors import access_denied
from proirp.sandbox.microsoft.events import EventRecord
from proirp.sandbox.microsoft.scopes import EVENT_READ_SCOPES
from proirp.sandbox.microsoft.subscriptions import Subscription, SubscriptionStore, check_new
from proirp.sandbox.microsoft.tokens import Bearer


class GraphPush:
    """The subscription calls of MicrosoftSandbox."""

    config: SandboxConfig
    _lock: threading.Lock
    _stats: dict[str, int]
    _clock: Callable[[], float]
    _subscriptions: SubscriptionStore

    def _account_locked(self, upn: str, display_name: str | None = None) -> Account:
        raise NotImplementedError

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _mailbox_changed_locked(self, account: str, record: EventRecord, kind: str) -> None:
        self._subscriptions.changed(account, record.id, record.etag, kind, self._now())

    def new_subscription(self, bearer: Bearer, body: object) -> Subscription:
        """POST /subscriptions, checked (not yet validated nor kept)."""
        with self._lock:
            if not EVENT_READ_SCOPES.intersection(bearer.scopes):
                raise access_denied()
            account = self._account_locked(bearer.account)
            return check_new(
                body,
                account=account.upn,
                oid=account.oid,
                tenant_id=account.tenant_id,
                application_id=self.config.microsoft_client_id,
                now=self._now(),
            )

    def add_subscription(self, subscription: Subscription, context: str) -> dict[str, Any]:
        """Keep a subscription whose addresses passed the handshake."""
        with self._lock:
            self._subscriptions.add(subscription)
            self._stats["subscriptions_created"] += 1
            return subscription.resource_view(context)

    def renew_subscription(
        self, bearer: Bearer, subscription_id: str, body: object, context: str
    ) -> dict[str, Any]:
        """PATCH /subscriptions/{id}: a new expirationDateTime."""
        with self._lock:
            found = self._subscriptions.renew(subscription_id, bearer.account, body, self._now())
            self._stats["subscriptions_renewed"] += 1
            return found.resource_view(context)

    def delete_subscription(self, bearer: Bearer, subscription_id: str) -> None:
        """DELETE /subscriptions/{id}."""
        with self._lock:
            self._subscriptions.remove(subscription_id, bearer.account)
            self._stats["subscriptions_deleted"] += 1

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every live subscription (never its clientState)."""
        with self._lock:
            return self._subscriptions.summaries()

    def send_lifecycle(self, subscription_id: str, event: str) -> dict[str, Any]:
        """A lifecycle notification, as Graph sends one (subscriptionRemoved ends it)."""
        with self._lock:
            return self._subscriptions.lifecycle(subscription_id, event).summary()
