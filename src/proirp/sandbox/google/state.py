"""GoogleSandbox: OAuth grants and tokens, accounts and their primary calendars, knobs, counters.

All state sits behind one lock (KnobbedState's): uvicorn serves requests on its event loop while
tests read and change "Google's side" from another thread. The records live in TokenStore and
CalendarStore; this class checks scopes, keeps the counters and holds the lock.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.dispatch import Dispatcher
from proirp.sandbox.google.calendars import Calendar, CalendarStore
from proirp.sandbox.google.channels import ChannelStore
from proirp.sandbox.google.errors import (
    GoogleApiError,
    OAuthError,
    control_error,
    insufficient_scopes,
    precondition_failed,
    rate_limited,
    unauthenticated,
)
from proirp.sandbox.google.events import EventRecord
from proirp.sandbox.google.knobs import STAT_NAMES, Knobs
from proirp.sandbox.google.listing import ListQuery
from proirp.sandbox.google.ratelimit import AccountRateLimiter
from proirp.sandbox.google.tokens import (
    EMAIL_SCOPES,
    AuthorizationCode,
    Bearer,
    TokenStore,
    subject_of,
)
from proirp.sandbox.oauth_state import OAuthState

AUTH = "https://www.googleapis.com/auth/"
# Scopes that allow reading / changing events, and listing calendars (any one suffices).
EVENT_WRITE_SCOPES = frozenset(
    AUTH + s for s in ("calendar", "calendar.events", "calendar.events.owned")
)
EVENT_READ_SCOPES = EVENT_WRITE_SCOPES | frozenset(
    AUTH + s
    for s in ("calendar.readonly", "calendar.events.readonly", "calendar.events.owned.readonly")
)
CALENDAR_LIST_SCOPES = frozenset(
    AUTH + s
    for s in (
        "calendar",
        "calendar.readonly",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
    )
)


class GoogleSandbox(OAuthState[Knobs, AuthorizationCode]):
    """State and behaviour behind the Google routes (one instance per sandbox)."""

    _limiter: AccountRateLimiter
    _tokens: TokenStore

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        client = (config.google_client_id, config.google_client_secret)
        super().__init__(
            STAT_NAMES, client=client, vendor="Google", refuse=control_error, clock=clock
        )
        self._tokens = TokenStore()
        self._dispatcher = Dispatcher(workers=4, name="sandbox-google")
        self._channels = ChannelStore(self._dispatcher, self.count)
        self._calendars = CalendarStore(clock, on_change=self._changed_locked)

    def _changed_locked(self, calendar_id: str) -> None:  # a change: push (channels.py)
        self._channels.changed(calendar_id, self._clock())

    def _initial_knobs(self) -> Knobs:
        return Knobs(
            latency_ms=self.config.latency_ms,
            access_token_seconds=self.config.google_access_token_seconds,
        )

    def _knobs_changed_locked(self, names: Collection[str]) -> None:
        if "rpm" in names:
            self._limiter = AccountRateLimiter(self._knobs.rpm)

    # --- clients ---------------------------------------------------------------------------

    def check_client(self, client_id: str | None, client_secret: str | None) -> str:
        """The client of a token request, or Google's 401 invalid_client."""
        if not client_id:
            raise OAuthError(400, "invalid_request", "Could not determine client ID from request.")
        if not self.knows_client(client_id):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        secret = self.config.google_client_secret.encode()
        if not hmac.compare_digest((client_secret or "").encode(), secret):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client_id

    # --- consent and tokens ----------------------------------------------------------------

    def _consented_locked(self, account: str) -> None:
        self._calendars.calendar(account)

    def exchange(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        verifier: str | None,
        issuer: str,
    ) -> dict[str, Any]:
        """Redeem an authorization code (grant_type=authorization_code)."""
        with self._lock:
            try:
                answer = self._tokens.redeem(
                    code,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    verifier=verifier,
                    now=self._clock(),
                    access_seconds=self._knobs.access_token_seconds,
                    client_secret=self.config.google_client_secret,
                    issuer=issuer,
                )
            except OAuthError:
                self._stats["token_rejected"] += 1
                raise
            self._stats["token_exchange"] += 1
            return answer

    def refresh(self, refresh_token: str, *, client_id: str) -> dict[str, Any]:
        """A new access token (grant_type=refresh_token)."""
        with self._lock:
            try:
                answer = self._tokens.refresh(
                    refresh_token,
                    client_id=client_id,
                    now=self._clock(),
                    access_seconds=self._knobs.access_token_seconds,
                )
            except OAuthError:
                self._stats["token_rejected"] += 1
                raise
            self._stats["token_refresh"] += 1
            return answer

    def revoke(self, token: str) -> bool:
        """Revoke the grant behind a token (the /revoke endpoint); False when unknown."""
        with self._lock:
            revoked = self._tokens.revoke(token)
            if revoked:
                self._stats["revoke"] += 1
            return revoked

    def bearer(self, authorization: str | None) -> Bearer:
        """Who a request's `Authorization: Bearer` speaks for; Google's 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            found = None
            if scheme.lower() == "bearer" and token.strip():
                found = self._tokens.bearer(token.strip(), now=self._clock())
            if found is None:
                self._stats["rejected_401"] += 1
                raise unauthenticated(missing=not token.strip())
            return found

    def admit_rate(self, account: str) -> None:
        """Take one request from the account's per-minute quota; 403 or 429 when over it."""
        with self._lock:
            if not self._limiter.try_acquire(account.lower()):
                self._stats["rejected_rate"] += 1
                raise rate_limited(self._knobs.rate_limit_status, self._knobs.rate_limit_reason)

    def userinfo(self, bearer: Bearer) -> dict[str, Any]:
        """OpenID Connect userinfo for the token's account (email only with an email scope)."""
        self.count("userinfo")
        info: dict[str, Any] = {"sub": subject_of(bearer.account)}
        if EMAIL_SCOPES.intersection(bearer.scopes):
            info.update(email=bearer.account, email_verified=True)
        return info

    # --- calendars -------------------------------------------------------------------------

    @contextmanager
    def _refusals_counted_locked(self) -> Iterator[None]:
        try:
            yield
        except GoogleApiError as error:
            stale = error.reason == "fullSyncRequired"
            self._stats["full_sync_required" if stale else "rejected_4xx"] += 1
            raise

    def _resolve_locked(self, bearer: Bearer, calendar_id: str, scopes: frozenset[str]) -> Calendar:
        if not scopes.intersection(bearer.scopes):
            raise insufficient_scopes()
        return self._calendars.resolve(bearer.account, calendar_id)

    def calendar_list(self, bearer: Bearer) -> dict[str, Any]:
        """users/me/calendarList: the account's primary calendar."""
        with self._lock, self._refusals_counted_locked():
            if not CALENDAR_LIST_SCOPES.intersection(bearer.scopes):
                raise insufficient_scopes()
            self._stats["calendar_list"] += 1
            return self._calendars.calendar_list(bearer.account)

    def list_events(self, bearer: Bearer, calendar_id: str, query: ListQuery) -> dict[str, Any]:
        """events.list: one page of a full or incremental listing."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_READ_SCOPES)
            max_age = self._knobs.sync_token_max_age_seconds
            answer = self._calendars.list_page(calendar, query, max_age=max_age)
            self._stats["events_list"] += 1
            return answer

    def get_event(self, bearer: Bearer, calendar_id: str, event_id: str) -> dict[str, Any]:
        """events.get."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_READ_SCOPES)
            record = self._calendars.event(calendar, event_id)
            self._stats["events_get"] += 1
            return record.resource()

    def insert_event(self, bearer: Bearer, calendar_id: str, body: object) -> dict[str, Any]:
        """events.insert."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_WRITE_SCOPES)
            record = self._calendars.insert(calendar, body)
            self._stats["events_insert"] += 1
            return record.resource()

    def patch_event(
        self,
        bearer: Bearer,
        calendar_id: str,
        event_id: str,
        body: object,
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """events.patch (only while the event's etag is `if_match`, when one is given)."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_WRITE_SCOPES)
            record = self._calendars.event(calendar, event_id)
            _check_etag(record, if_match)
            self._calendars.patch(calendar, record, body)
            self._stats["events_patch"] += 1
            return record.resource()

    def delete_event(
        self, bearer: Bearer, calendar_id: str, event_id: str, *, if_match: str | None = None
    ) -> None:
        """events.delete: the event is cancelled (incremental sync still reports it)."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_WRITE_SCOPES)
            record = self._calendars.event(calendar, event_id)
            if record.status == "cancelled":
                raise GoogleApiError(410, "deleted", "Resource has been deleted")
            _check_etag(record, if_match)
            self._calendars.cancel(record)
            self._stats["events_delete"] += 1

    # --- push: events.watch and channels.stop ---------------------------------------------

    def watch(self, bearer: Bearer, calendar_id: str, body: object) -> dict[str, Any]:
        """events.watch: a channel that is told of every change to the calendar's events."""
        with self._lock, self._refusals_counted_locked():
            calendar = self._resolve_locked(bearer, calendar_id, EVENT_READ_SCOPES)
            channel = self._channels.watch(bearer.account, calendar.id, body, self._clock())
            self._stats["channels_watch"] += 1
            return channel.resource()

    def stop_channel(self, bearer: Bearer, body: object) -> None:
        """channels.stop."""
        with self._lock, self._refusals_counted_locked():
            self._channels.stop(bearer.account, body)
            self._stats["channels_stop"] += 1

    def channels(self) -> list[dict[str, Any]]:  # every live one, never its token
        with self._lock:
            return self._channels.summaries()

    # --- Google's side (control routes) ----------------------------------------------------

    def seed_events(
        self, account: str, bodies: list[dict[str, Any]], count: int, start: datetime | None
    ) -> list[str]:
        """Create events on an account's calendar as if made in Google Calendar; their IDs."""
        with self._lock:
            return self._calendars.seed(account, bodies, count, start)

    def change_event(self, event_id: str, body: object) -> dict[str, Any]:
        """Change an event as if edited in Google Calendar."""
        with self._lock:
            calendar, record = self._found_locked(event_id)
            self._calendars.patch(calendar, record, body)
            return record.resource()

    def _found_locked(self, event_id: str) -> tuple[Calendar, EventRecord]:
        found = self._calendars.find(event_id)
        if found is None:
            raise control_error(404, "no event has this ID")
        return found

    def move_event(self, event_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Move an event (or one instance of a series) as if dragged in Google Calendar."""
        with self._lock:
            calendar, record = self._found_locked(event_id)
            zone = {"timeZone": record.start["timeZone"]} if "timeZone" in record.start else {}
            body = {
                "start": {"dateTime": start.isoformat(), **zone},
                "end": {"dateTime": end.isoformat(), **zone},
            }
            self._calendars.patch(calendar, record, body)
            return record.resource()

    def touch_event(self, event_id: str) -> dict[str, Any]:
        """An edit in Google Calendar that leaves what the product shows alone: a new etag."""
        with self._lock:
            _calendar, record = self._found_locked(event_id)
            self._calendars.touch(record)
            return record.resource()

    def seed_series(
        self, account: str, start: datetime, end: datetime, count: int, title: str
    ) -> dict[str, Any]:
        """A weekly series made in Google Calendar: its ID and its instances' IDs, in order."""
        body = {
            "summary": title,
            "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": end.isoformat(), "timeZone": "UTC"},
            "recurrence": [f"RRULE:FREQ=WEEKLY;COUNT={count}"],
        }
        with self._lock:
            calendar = self._calendars.calendar(account)
            master = self._calendars.insert(calendar, body)
            ids = sorted(self._calendars.instance_ids(calendar, master))
            return {"series_id": master.id, "ids": ids}

    def cancel_event(self, event_id: str) -> None:
        """Cancel an event as if deleted in Google Calendar."""
        with self._lock:
            _calendar, record = self._found_locked(event_id)
            if record.status != "cancelled":
                self._calendars.cancel(record)

    def revoke_account(self, account: str) -> int:
        """Revoke every grant of an account (the user removed the app); how many were live."""
        with self._lock:
            return self._tokens.revoke_account(account.lower())

    def expire_sync_tokens(self) -> None:
        """Make every sync token issued so far answer 410."""
        with self._lock:
            self._calendars.expire_sync_tokens()

    def accounts(self) -> list[dict[str, Any]]:
        """Every account with its grants, token counts and event counts (never token values)."""
        with self._lock:
            names = sorted(set(self._calendars.accounts()) | self._tokens.accounts())
            return [
                {
                    "account": name,
                    **self._calendars.event_counts(name),
                    **self._tokens.summary(name),
                }
                for name in names
            ]

    def reset(self) -> None:
        """Forget accounts, grants, tokens, events and counters; knobs return to the start
        config."""
        with self._lock:
            self._tokens = TokenStore()
            # Tokens issued before the reset must not match the new store's change numbers.
            epoch = self._calendars.epoch + 1
            self._channels = ChannelStore(self._dispatcher, self.count)
            self._calendars = CalendarStore(
                self._clock, epoch=epoch, on_change=self._changed_locked
            )
            self._reset_knobs_locked()

    def close(self) -> None:  # notifications not yet sent are dropped
        self._dispatcher.close()


def _check_etag(record: EventRecord, if_match: str | None) -> None:
    """`If-Match`: the event's current etag, or `*` (any); 412 otherwise."""
    if if_match is None:
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    if "*" not in wanted and record.etag not in wanted:
        raise precondition_failed()
