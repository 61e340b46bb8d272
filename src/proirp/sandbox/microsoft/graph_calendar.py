"""Graph's user and calendar calls (/me, userinfo, events, calendarView, delta), as a part of
MicrosoftSandbox: it owns the lock, the accounts and the mailboxes these methods work on.

Each call takes the caller's Bearer (already admitted by the throttling) and the View the request
asked for (where links point, which time zone), checks the token's scopes and answers Graph's
JSON. Refusals are GraphErrors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.microsoft.accounts import Account
from proirp.sandbox.microsoft.delta import (
    MAX_PAGE_SIZE,
    DeltaPosition,
    decode_token,
    delta_page,
    encode_token,
    removed,
)
from proirp.sandbox.microsoft.errors import GraphError, access_denied, irresolvable_conflict
from proirp.sandbox.microsoft.events import EventRecord, is_event_id
from proirp.sandbox.microsoft.knobs import Knobs
from proirp.sandbox.microsoft.mailbox import Mailbox, MailboxStore
from proirp.sandbox.microsoft.query import View
from proirp.sandbox.microsoft.scopes import (
    EVENT_READ_SCOPES,
    EVENT_WRITE_SCOPES,
    USER_READ_SCOPES,
)
from proirp.sandbox.microsoft.tokens import Bearer, pairwise_subject


class GraphCalendar:
    """The Graph calls of MicrosoftSandbox (a mixin: MicrosoftSandbox sets these attributes)."""

    config: SandboxConfig
    _lock: threading.Lock
    _stats: dict[str, int]
    _knobs: Knobs
    _clock: Callable[[], float]
    _mailboxes: MailboxStore
    _token_key: bytes  # signs delta and skip tokens

    def _account_locked(self, upn: str, display_name: str | None = None) -> Account:
        raise NotImplementedError

    def _mailbox_locked(self, bearer: Bearer, scopes: frozenset[str]) -> Mailbox:
        if not scopes.intersection(bearer.scopes):
            raise access_denied()
        account = self._account_locked(bearer.account)
        return self._mailboxes.mailbox(account.upn, account.display_name)

    def me(self, bearer: Bearer, view: View) -> dict[str, Any]:
        """GET /me."""
        with self._lock:
            if not USER_READ_SCOPES.intersection(bearer.scopes):
                raise GraphError(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            self._stats["me"] += 1
            return self._account_locked(bearer.account).user(f"{view.base}/$metadata#users/$entity")

    def userinfo(self, bearer: Bearer) -> dict[str, Any]:
        """GET /oidc/userinfo: the OpenID Connect claims of the token's account."""
        with self._lock:
            account = self._account_locked(bearer.account)
            given, _, family = account.display_name.partition(" ")
            return {
                "sub": pairwise_subject(account, self.config.microsoft_client_id),
                "name": account.display_name,
                "family_name": family,
                "given_name": given,
                "email": account.upn,
            }

    def _entity_context(self, mailbox: Mailbox, view: View) -> str:
        oid = self._account_locked(mailbox.account).oid
        return f"{view.base}/$metadata#users('{oid}')/events/$entity"

    def _event_locked(self, mailbox: Mailbox, event_id: str) -> EventRecord:
        if not is_event_id(event_id):
            raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        return self._mailboxes.event(mailbox, event_id)

    def create_event(self, bearer: Bearer, body: object, view: View) -> dict[str, Any]:
        """POST /me/events (a transactionId seen before answers its event again)."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_WRITE_SCOPES)
            record, new = self._mailboxes.create(mailbox, body)
            if new:
                self._stats["events_created"] += 1
            resource = record.resource(view.zone, view.zone_name)
            return {"@odata.context": self._entity_context(mailbox, view), **resource}

    def get_event(self, bearer: Bearer, event_id: str, view: View) -> dict[str, Any]:
        """GET /me/events/{id}."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_READ_SCOPES)
            record = self._event_locked(mailbox, event_id)
            self._stats["events_read"] += 1
            resource = record.resource(view.zone, view.zone_name)
            return {"@odata.context": self._entity_context(mailbox, view), **resource}

    def update_event(
        self, bearer: Bearer, event_id: str, body: object, view: View, *, if_match: str | None
    ) -> dict[str, Any]:
        """PATCH /me/events/{id} (only while the event's etag is `if_match`, when given)."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_WRITE_SCOPES)
            record = self._event_locked(mailbox, event_id)
            _check_etag(record, if_match)
            self._mailboxes.update(mailbox, record, body)
            self._stats["events_updated"] += 1
            resource = record.resource(view.zone, view.zone_name)
            return {"@odata.context": self._entity_context(mailbox, view), **resource}

    def delete_event(self, bearer: Bearer, event_id: str, *, if_match: str | None) -> None:
        """DELETE /me/events/{id} (only while the event's etag is `if_match`, when given)."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_WRITE_SCOPES)
            record = self._event_locked(mailbox, event_id)
            _check_etag(record, if_match)
            self._mailboxes.delete(mailbox, record)
            self._stats["events_deleted"] += 1

    def calendar_view(
        self,
        bearer: Bearer,
        window: tuple[datetime, datetime],
        skip: int,
        top: int,
        view: View,
        next_link: Callable[[int], str],
    ) -> dict[str, Any]:
        """GET /me/calendarView: one page, by start time."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_READ_SCOPES)
            items, more = self._mailboxes.calendar_view(mailbox, *window, skip, top)
            self._stats["calendar_view_pages"] += 1
            self._stats["events_listed"] += len(items)
            oid = self._account_locked(mailbox.account).oid
            answer: dict[str, Any] = {
                "@odata.context": f"{view.base}/$metadata#users('{oid}')/calendarView",
                "value": [item.resource(view.zone, view.zone_name) for item in items],
            }
            if more:
                answer["@odata.nextLink"] = next_link(skip + top)
            return answer

    def delta(
        self,
        bearer: Bearer,
        *,
        window: tuple[datetime, datetime] | None,
        skip_token: str | None,
        delta_token: str | None,
        page_size: int | None,
        view: View,
    ) -> tuple[dict[str, Any], int]:
        """GET /me/calendarView/delta: one page of a round, and the page size applied."""
        with self._lock:
            mailbox = self._mailbox_locked(bearer, EVENT_READ_SCOPES)
            now = self._clock()
            store = self._mailboxes
            if skip_token is not None or delta_token is not None:
                position = decode_token(
                    skip_token or delta_token or "",
                    self._token_key,
                    account=mailbox.account,
                    epoch=store.epoch,
                    now=now,
                    max_age=self._knobs.delta_token_max_age_seconds,
                )
                if skip_token is None:  # a new round from a deltaLink
                    position = replace(position, snapshot=store.change, after=0)
            else:
                assert window is not None
                start, end = window
                position = DeltaPosition(
                    account=mailbox.account,
                    start=start.timestamp(),
                    end=end.timestamp(),
                    since=None,
                    snapshot=store.change,
                    after=0,
                    epoch=store.epoch,
                    issued_at=now,
                    page_size=None,
                )
            if page_size is not None:
                position = replace(position, page_size=min(page_size, MAX_PAGE_SIZE))
            size = position.page_size or self._knobs.delta_page_size
            page, following = delta_page(mailbox, position, size)
            self._stats["delta_pages"] += 1
            self._stats["events_listed"] += len(page)
            answer: dict[str, Any] = {
                "@odata.context": f"{view.base}/$metadata#Collection(event)",
                "value": [
                    record.resource(view.zone, view.zone_name) if inside else removed(record)
                    for record, inside in page
                ],
            }
            link = f"{view.base}/me/calendarView/delta?"
            if following is not None:
                token = encode_token(replace(following, issued_at=now), self._token_key)
                answer["@odata.nextLink"] = link + "$skiptoken=" + token
            else:
                done = replace(position, since=position.snapshot, after=0, issued_at=now)
                answer["@odata.deltaLink"] = (
                    link + "$deltatoken=" + encode_token(done, self._token_key)
                )
            return answer, size


def _check_etag(record: EventRecord, if_match: str | None) -> None:
    """`If-Match`: the event's current `@odata.etag`, or `*` (any); 412 otherwise."""
    if if_match is None:
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    if "*" not in wanted and record.etag not in wanted:
        raise irresolvable_conflict()
