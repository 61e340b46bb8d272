"""MicrosoftSandbox: the directory's accounts, OAuth grants and tokens, mailboxes, throttling,
knobs and counters.

All state sits behind one lock (KnobbedState's): uvicorn serves requests on its event loop while
tests read and change "Microsoft's side" from another thread. The records live in TokenStore and
MailboxStore; this class checks clients, throttles, keeps the counters and holds the lock. Graph's
calendar calls are in GraphCalendar, which this class mixes in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.dispatch import Dispatcher
from proirp.sandbox.microsoft.accounts import Account, new_account
from proirp.sandbox.microsoft.errors import (
    BAD_SECRET,
    MISSING_PARAMETER,
    NO_SECRET,
    UNKNOWN_APP,
    aadsts,
    control_error,
    invalid_client,
    invalid_request,
    server_fault,
    throttled,
    unauthenticated,
)
from proirp.sandbox.microsoft.events import EventRecord
from proirp.sandbox.microsoft.graph_calendar import GraphCalendar
from proirp.sandbox.microsoft.graph_push import GraphPush
from proirp.sandbox.microsoft.knobs import STAT_NAMES, TOKEN_GRANTS, Knobs
from proirp.sandbox.microsoft.mailbox import Mailbox, MailboxStore
from proirp.sandbox.microsoft.recurrence import DAYS
from proirp.sandbox.microsoft.scopes import Scopes
from proirp.sandbox.microsoft.subscriptions import SubscriptionStore
from proirp.sandbox.microsoft.throttling import MailboxThrottle
from proirp.sandbox.microsoft.tokens import (
    AuthorizationCode,
    Bearer,
    Issued,
    TokenStore,
    client_info_of,
    token_response,
)
from proirp.sandbox.microsoft.zones import graph_local
from proirp.sandbox.oauth_state import OAuthState

CONCURRENCY_MESSAGE = "Application is over its MailboxConcurrency limit."
RATE_MESSAGE = "Application is over its MailboxRequestRate limit."
UNAUTHENTICATED = {
    "missing": "Access token is empty.",
    "unknown": "Access token validation failure. Invalid audience.",
    "expired": "Lifetime validation failed, the token is expired.",
    "revoked": "Access token has been revoked: the user removed the app's access.",
}


class MicrosoftSandbox(GraphCalendar, GraphPush, OAuthState[Knobs, AuthorizationCode]):
    """State and behaviour behind the Microsoft routes (one instance per sandbox)."""

    _tokens: TokenStore

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._throttle = MailboxThrottle()
        client = (config.microsoft_client_id, config.microsoft_client_secret)
        super().__init__(
            STAT_NAMES, client=client, vendor="Microsoft", refuse=control_error, clock=clock
        )
        self._tokens = TokenStore()
        self._dispatcher = Dispatcher(workers=4, name="sandbox-microsoft")
        self._subscriptions = SubscriptionStore(self._dispatcher, self.count, self._lock)
        self._mailboxes = MailboxStore(clock, on_change=self._mailbox_changed_locked)
        self._accounts: dict[str, Account] = {}
        self._token_key = secrets.token_bytes(32)  # signs delta and skip tokens

    def _initial_knobs(self) -> Knobs:
        return Knobs(
            latency_ms=self.config.latency_ms,
            access_token_seconds=self.config.microsoft_access_token_seconds,
            mailbox_concurrency=self.config.microsoft_mailbox_concurrency,
        )

    def _knobs_changed_locked(self, names: Collection[str]) -> None:
        if "mailbox_rps" in names:
            self._throttle.reset_rate()

    # --- the app registration --------------------------------------------------------------

    def check_client(self, client_id: str | None, secret: str | None, *, tenant: str) -> str:
        """The app of a token request, or the identity platform's refusal."""
        if not client_id:
            raise invalid_request(aadsts(MISSING_PARAMETER, name="client_id"))
        if not self.knows_client(client_id):
            raise invalid_client(aadsts(UNKNOWN_APP, client_id=client_id, tenant=tenant))
        if not secret:
            raise invalid_client(NO_SECRET)
        if not hmac.compare_digest(secret.encode(), self.config.microsoft_client_secret.encode()):
            raise invalid_client(aadsts(BAD_SECRET, client_id=client_id))
        return client_id

    # --- accounts, consent and tokens ------------------------------------------------------

    def _account_locked(self, upn: str, display_name: str | None = None) -> Account:
        key = upn.strip().lower()
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = new_account(key, display_name)
            self._mailboxes.mailbox(key, account.display_name)
        return account

    def add_account(self, upn: str, display_name: str | None) -> dict[str, Any]:
        """An account in the directory (as an admin would create it); an existing one is kept."""
        with self._lock:
            return self._account_locked(upn, display_name).summary()

    def _consented_locked(self, account: str) -> None:
        self._account_locked(account)

    def client_info(self, upn: str) -> str:
        """The `client_info` an authorization response carries for an account."""
        with self._lock:
            return client_info_of(self._account_locked(upn))

    def already_consented(self, client_id: str, account: str, scopes: Scopes) -> bool:
        """Whether prompt=none can answer without the page."""
        with self._lock:
            return self._tokens.live_grant(client_id, account, scopes)

    def take_token_failure(self) -> bool:
        """Whether this token request must fail with 503 (token_fail_next)."""
        with self._lock:
            if self._knobs.token_fail_next <= 0:
                return False
            self._knobs.token_fail_next -= 1
            self._stats["faults_5xx"] += 1
            return True

    def count_token_request(self, grant_type: str) -> None:
        """Count a token request by grant type (authorization_code, refresh_token)."""
        if grant_type in ("authorization_code", "refresh_token"):
            self.count(grant_type)

    def exchange(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        verifier: str | None,
        issuer_base: str,
        client_info: bool,
    ) -> dict[str, Any]:
        """Redeem an authorization code (grant_type=authorization_code)."""
        with self._lock:
            issued = self._tokens.redeem(
                code,
                client_id=client_id,
                redirect_uri=redirect_uri,
                verifier=verifier,
                now=self._clock(),
                access_seconds=self._knobs.access_token_seconds,
            )
            return self._token_response_locked(issued, issuer_base, client_info)

    def refresh(
        self,
        refresh_token: str,
        *,
        client_id: str,
        scopes: Scopes | None,
        issuer_base: str,
        client_info: bool,
    ) -> dict[str, Any]:
        """New access and refresh tokens (grant_type=refresh_token)."""
        with self._lock:
            issued = self._tokens.refresh(
                refresh_token,
                client_id=client_id,
                requested=scopes,
                now=self._clock(),
                access_seconds=self._knobs.access_token_seconds,
                max_age=self._knobs.refresh_token_seconds,
            )
            return self._token_response_locked(issued, issuer_base, client_info)

    def _token_response_locked(
        self, issued: Issued, issuer_base: str, client_info: bool
    ) -> dict[str, Any]:
        return token_response(
            issued,
            self._account_locked(issued.grant.account),
            issuer_base=issuer_base,
            client_secret=self.config.microsoft_client_secret,
            now=self._clock(),
            client_info=client_info,
        )

    # --- Graph: who, and whether now -------------------------------------------------------

    def bearer(self, authorization: str | None) -> Bearer:
        """Who a request's `Authorization: Bearer` speaks for; Graph's 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        with self._lock:
            if scheme.lower() != "bearer" or not token:
                raise unauthenticated(UNAUTHENTICATED["missing"])
            found = self._tokens.bearer(token, now=self._clock())
            if isinstance(found, str):
                raise unauthenticated(UNAUTHENTICATED[found])
            return found

    def admit(self, account: str) -> None:
        """Let a Graph request for a mailbox in, or throttle it (429) or fail it (fail_next);
        once admitted it counts as in flight until leave()."""
        with self._lock:
            knobs = self._knobs
            if knobs.throttle_next > 0:
                knobs.throttle_next -= 1
                self._stats["throttled"] += 1
                raise throttled(RATE_MESSAGE, knobs.retry_after_seconds)
            wait = self._throttle.admit_rate(account, knobs.mailbox_rps, time.monotonic())
            if wait is not None:
                self._stats["throttled"] += 1
                raise throttled(RATE_MESSAGE, wait)
            if knobs.fail_next > 0:
                knobs.fail_next -= 1
                self._stats["faults_5xx"] += 1
                raise server_fault(knobs.fail_status, knobs.retry_after_seconds)
            if not self._throttle.enter(account, knobs.mailbox_concurrency):
                self._stats["throttled"] += 1
                self._stats["concurrency_refused"] += 1
                raise throttled(CONCURRENCY_MESSAGE, knobs.retry_after_seconds)

    def leave(self, account: str) -> None:
        """An admitted Graph request has been answered."""
        with self._lock:
            self._throttle.leave(account)

    def hold_seconds(self) -> float:
        """How long Graph answers are held while in flight (graph_hold_ms)."""
        with self._lock:
            return self._knobs.graph_hold_ms / 1000

    def count_refusal(self, status: int) -> None:
        """Count a Graph 4xx by kind (429s are counted where they are decided)."""
        stat = {401: "rejected_401", 403: "rejected_403", 410: "delta_gone", 429: None}.get(
            status, "rejected_4xx"
        )
        if stat is not None and status < 500:
            self.count(stat)

    # --- Microsoft's side (control routes) -------------------------------------------------

    def seed_events(
        self, account: str, bodies: list[dict[str, Any]], count: int, start: datetime | None
    ) -> list[str]:
        """Create events in an account's mailbox as if made in Outlook; their IDs."""
        with self._lock:
            self._account_locked(account)
            return self._mailboxes.seed(account, bodies, count, start)

    def change_event(self, event_id: str, body: object) -> dict[str, Any]:
        """Change an event as if edited in Outlook; the event as the mailbox holds it."""
        with self._lock:
            mailbox, record = self._found_locked(event_id)
            self._mailboxes.update(mailbox, record, body)
            return record.as_held()

    def _found_locked(self, event_id: str) -> tuple[Mailbox, EventRecord]:
        found = self._mailboxes.find(event_id)
        if found is None:
            raise control_error(404, "no event has this ID")
        return found

    def move_event(self, event_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Move an event (or one occurrence of a series) as if dragged in Outlook; the event as
        the mailbox holds it (times in UTC)."""
        body = {
            "start": {"dateTime": graph_local(start, UTC), "timeZone": "UTC"},
            "end": {"dateTime": graph_local(end, UTC), "timeZone": "UTC"},
        }
        with self._lock:
            mailbox, record = self._found_locked(event_id)
            self._mailboxes.update(mailbox, record, body)
            return record.as_held()

    def touch_event(self, event_id: str) -> dict[str, Any]:
        """An edit in Outlook that leaves what the product shows alone: a new etag."""
        with self._lock:
            mailbox, record = self._found_locked(event_id)
            self._mailboxes.touch(mailbox, record)
            return record.as_held()

    def seed_series(
        self, account: str, start: datetime, end: datetime, count: int, title: str
    ) -> dict[str, Any]:
        """A weekly series made in Outlook: its master's ID and its occurrences' IDs, in order."""
        body = {
            "subject": title,
            "start": {"dateTime": graph_local(start, UTC), "timeZone": "UTC"},
            "end": {"dateTime": graph_local(end, UTC), "timeZone": "UTC"},
            "recurrence": {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [DAYS[start.astimezone(UTC).weekday()]],
                },
                "range": {
                    "type": "numbered",
                    "startDate": start.astimezone(UTC).date().isoformat(),
                    "numberOfOccurrences": count,
                },
            },
        }
        with self._lock:
            self._account_locked(account)
            mailbox = self._mailboxes.mailbox(account)
            master, _new = self._mailboxes.create(mailbox, body)
            series = sorted(mailbox.series(master), key=lambda e: e.start_at)
            return {"series_id": master.id, "ids": [e.id for e in series]}

    def remove_event(self, event_id: str) -> None:
        """Delete (or cancel: for the organizer's mailbox the same) an event as in Outlook."""
        with self._lock:
            self._mailboxes.delete(*self._found_locked(event_id))

    def mailbox_events(self, account: str) -> list[dict[str, Any]]:
        """What an account's mailbox holds, by start time, each in the zones it was made in."""
        with self._lock:
            mailbox = self._mailboxes.mailbox(account)
            live = sorted(mailbox.live(), key=lambda e: (e.start_at, e.id))
            return [record.as_held() for record in live]

    def revoke_account(self, account: str) -> int:
        """Revoke every grant of an account (the user removed the app); how many were live."""
        with self._lock:
            return self._tokens.revoke_account(account.strip().lower(), now=self._clock())

    def expire_delta_tokens(self) -> None:
        """Make every delta and skip token issued so far answer 410."""
        with self._lock:
            self._mailboxes.expire_delta_tokens()

    def accounts(self) -> list[dict[str, Any]]:
        """Every account with its grants and event counts (never token values)."""
        with self._lock:
            names = sorted(set(self._accounts) | self._tokens.accounts())
            return [
                {
                    **self._account_locked(name).summary(),
                    **self._mailboxes.event_counts(name),
                    **self._tokens.summary(name),
                }
                for name in names
            ]

    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset, with token requests by grant type
        (`token_requests`: {grant_type: n}) and the most requests seen in flight at once per
        mailbox (`max_in_flight`: {account: n})."""
        with self._lock:
            counters: dict[str, Any] = dict(self._stats)
            counters["token_requests"] = {grant: counters.pop(grant) for grant in TOKEN_GRANTS}
            counters["max_in_flight"] = dict(self._throttle.max_in_flight)
            return counters

    def reset(self) -> None:
        """Forget accounts, grants, tokens, events and counters; knobs return to the start
        config."""
        with self._lock:
            self._tokens = TokenStore()
            # Tokens issued before the reset must not match the new store's change numbers.
            self._mailboxes = MailboxStore(
                self._clock,
                epoch=self._mailboxes.epoch + 1,
                on_change=self._mailbox_changed_locked,
            )
            self._subscriptions = SubscriptionStore(self._dispatcher, self.count, self._lock)
            self._accounts = {}
            self._throttle = MailboxThrottle()
            self._reset_knobs_locked()

    def close(self) -> None:
        """Stop sending notifications (those not yet sent are dropped)."""
        self._dispatcher.close()
