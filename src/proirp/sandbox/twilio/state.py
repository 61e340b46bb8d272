"""TwilioSandbox: the messages, opt-outs, knobs and counters of the Twilio imitation.

All state sits behind one lock: uvicorn serves requests on its event loop while the dispatcher's
threads advance message statuses, and tests read the ledger from yet another thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.dispatch import Dispatcher, WebhookResult
from proirp.sandbox.knobs import SenderState
from proirp.sandbox.twilio.auth import check_basic_auth
from proirp.sandbox.twilio.callbacks import inbound_params, post_signed, status_callback_params
from proirp.sandbox.twilio.errors import DELIVERY_ERRORS, TwilioApiError
from proirp.sandbox.twilio.knobs import STAT_NAMES, Knobs
from proirp.sandbox.twilio.media import Attachment, MediaRecord, media_path
from proirp.sandbox.twilio.messages import (
    CreateRequest,
    MessageRecord,
    count_segments,
    message_uri,
    new_sid,
)
from proirp.sandbox.twilio.numbers import MAGIC_TO_OUTCOMES, Keyword, keyword_of
from proirp.sandbox.twilio.ratelimit import SenderRateLimiter

log = structlog.get_logger(__name__)

CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_DELAYS = (0.2, 1.0)  # seconds before the 2nd and 3rd attempt
INBOUND_PATH = "/webhooks/twilio/inbound"


class NoSuchInbound(Exception):
    """No inbound message has this sid (unknown, outbound, or forgotten by a reset)."""


@dataclass(frozen=True)
class InboundDelivery:
    """A simulated inbound SMS, ready to POST to the application."""

    url: str
    params: dict[str, str]
    keyword: Keyword | None


def _now() -> datetime:
    return datetime.now(UTC)


class TwilioSandbox(SenderState[Knobs]):
    """State and behaviour behind the Twilio routes (one instance per sandbox)."""

    _limiter: SenderRateLimiter

    def __init__(self, config: SandboxConfig, *, dispatcher: Dispatcher | None = None) -> None:
        self.config = config
        super().__init__(STAT_NAMES)
        self._dispatcher = dispatcher or Dispatcher(name="sandbox-twilio")
        self._messages: dict[str, MessageRecord] = {}
        self._order: list[str] = []  # creation order, oldest first
        self._opt_outs: set[tuple[str, str]] = set()  # (our number, client number)
        self._generation = 0  # bumped by reset(); stale background jobs then do nothing

    def _initial_knobs(self) -> Knobs:
        return Knobs(mps=self.config.twilio_mps, latency_ms=self.config.latency_ms)

    # --- access ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | None, account_sid: str | None = None) -> None:
        """Check HTTP basic credentials (and the path's AccountSid); raise 20003 otherwise."""
        check_basic_auth(
            authorization,
            account_sid=self.config.twilio_account_sid,
            auth_token=self.config.twilio_auth_token,
            path_account_sid=account_sid,
        )

    # --- knobs ----------------------------------------------------------------------------

    def _knobs_changed_locked(self, names: Collection[str]) -> None:
        if "mps" in names:
            self._limiter = SenderRateLimiter(self._knobs.mps)

    # --- messages -------------------------------------------------------------------------

    def create_message(self, request: CreateRequest) -> dict[str, Any]:
        """Accept an outbound message (or refuse it: 21610 opted out, 20429 over the rate)."""
        sender_key = request.from_ or request.messaging_service_sid or ""
        with self._lock:
            if self._is_opted_out_locked(request.from_, request.to):
                raise TwilioApiError(21610)
            if not self._limiter.try_acquire(sender_key):
                self._stats["rejected_429"] += 1
                self._hold_locked(sender_key, 1)
                raise TwilioApiError(20429, headers={"Retry-After": "1"})
            now = _now()
            # A Messaging Service without From picks its sender later: Twilio answers
            # "accepted" with 0 segments, then reports "queued" once a sender is chosen.
            picks_sender = request.from_ is None
            final, _ = MAGIC_TO_OUTCOMES.get(request.to, ("delivered", 0))
            pending = ["sent", final] if final != "failed" else ["failed"]
            if picks_sender:
                pending.insert(0, "queued")
            record = MessageRecord(
                sid=new_sid("MM" if request.num_media else "SM"),
                account_sid=self.config.twilio_account_sid,
                to=request.to,
                from_=request.from_,
                body=request.body,
                direction="outbound-api",
                status="accepted" if picks_sender else "queued",
                num_segments=0 if picks_sender else count_segments(request.body),
                num_media=request.num_media,
                messaging_service_sid=request.messaging_service_sid,
                date_created=now,
                date_updated=now,
                # Twilio's own create examples carry date_sent; it moves on at "sent".
                date_sent=now,
                status_callback=request.status_callback,
                validity_period=request.validity_period,
                ignored_params=request.ignored_params,
                pending_statuses=pending,
            )
            self._messages[record.sid] = record
            self._order.append(record.sid)
            self._stats["created"] += 1
            generation = self._generation
            resource = record.resource()
        self._schedule_advance(record.sid, generation)
        return resource

    def fetch(self, sid: str) -> dict[str, Any]:
        """One message in Twilio's shape; 20404 when unknown."""
        with self._lock:
            return self._get_locked(sid).resource()

    def snapshot_newest_first(self) -> list[MessageRecord]:
        """Copies of all messages, newest first (Twilio's list order)."""
        with self._lock:
            return [dataclasses.replace(self._messages[sid]) for sid in reversed(self._order)]

    def update_message(self, sid: str, *, body: str | None, status: str | None) -> dict[str, Any]:
        """Redact a body (Body="") or cancel (Status=canceled, scheduled messages only)."""
        if (body is None) == (status is None):
            raise TwilioApiError(30400, detail="give exactly one of Body or Status")
        if body is not None and body != "":
            raise TwilioApiError(30400, detail="Body can only be set to an empty string")
        if status is not None and status != "canceled":
            raise TwilioApiError(30400, detail="Status can only be 'canceled'")
        with self._lock:
            record = self._get_locked(sid)
            if status is not None:
                raise TwilioApiError(30409)  # the sandbox has no scheduled messages
            record.body = ""
            record.date_updated = _now()
            return record.resource()

    def delete_message(self, sid: str) -> None:
        """Delete a finished message; 20009 while it is still on its way."""
        with self._lock:
            record = self._get_locked(sid)
            if record.pending_statuses:
                raise TwilioApiError(20009)
            del self._messages[sid]
            self._order.remove(sid)

    def ledger(self, *, include_inbound: bool = False) -> list[dict[str, Any]]:
        """The messages created through the API, oldest first, with the sandbox's extras
        (status_callback, validity_period, ignored_params, callbacks).

        Simulated inbound messages (direction "inbound") are left out unless asked for.
        """
        with self._lock:
            records = [self._messages[sid] for sid in self._order]
            return [
                record.ledger_entry()
                for record in records
                if include_inbound or record.direction != "inbound"
            ]

    def opt_outs(self) -> list[dict[str, str]]:
        """Who has opted out of which of our numbers."""
        with self._lock:
            return [{"from": ours, "to": client} for ours, client in sorted(self._opt_outs)]

    def reset(self) -> None:
        """Forget messages, opt-outs and counters; knobs return to the start configuration."""
        with self._lock:
            self._generation += 1
            self._messages.clear()
            self._order.clear()
            self._opt_outs.clear()
            self._reset_knobs_locked()

    def close(self) -> None:
        """Stop background work (pending status changes are dropped)."""
        self._dispatcher.close()

    def _get_locked(self, sid: str) -> MessageRecord:
        record = self._messages.get(sid)
        if record is None:
            raise TwilioApiError(20404, uri=message_uri(self.config.twilio_account_sid, sid))
        return record

    def _is_opted_out_locked(self, from_: str | None, to: str) -> bool:
        if from_ is None:  # Messaging Service: an opt-out from any of our numbers counts
            return any(client == to for _, client in self._opt_outs)
        return (from_, to) in self._opt_outs

    # --- inbound --------------------------------------------------------------------------

    def receive_inbound(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        attachments: Sequence[Attachment] = (),
        api_root: str,
    ) -> InboundDelivery:
        """Record an SMS (an MMS with `attachments`) from a client to our number and apply
        STOP/START like Twilio does; `api_root` is where the media URLs point."""
        url = self._inbound_url()
        keyword = keyword_of(body)
        now = _now()
        sid = new_sid("MM" if attachments else "SM")
        record = MessageRecord(
            sid=sid,
            account_sid=self.config.twilio_account_sid,
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="received",
            num_segments=count_segments(body),
            num_media=len(attachments),
            messaging_service_sid=None,
            date_created=now,
            date_updated=now,
            date_sent=now,
            media=[
                MediaRecord(
                    sid=new_sid("ME"),
                    parent_sid=sid,
                    account_sid=self.config.twilio_account_sid,
                    content_type=attachment.content_type,
                    content=attachment.content,
                    date_created=now,
                )
                for attachment in attachments
            ],
        )
        params = inbound_params(record, keyword, api_root=api_root)
        record.webhook_params = params
        with self._lock:
            if keyword == "STOP":
                self._opt_outs.add((to, from_))
            elif keyword == "START":
                self._opt_outs.discard((to, from_))
            self._messages[record.sid] = record
            self._order.append(record.sid)
            self._stats["inbound"] += 1
        return InboundDelivery(url=url, params=dict(params), keyword=keyword)

    def retry_inbound(self, sid: str) -> InboundDelivery:
        """The webhook of an inbound message again, exactly as first sent (Twilio's retry after
        a failed or timed-out delivery); NoSuchInbound for a sid that is no inbound message."""
        url = self._inbound_url()
        with self._lock:
            record = self._messages.get(sid)
            if record is None or record.webhook_params is None:
                raise NoSuchInbound(sid)
            self._stats["inbound_retries"] += 1
            params = dict(record.webhook_params)
        return InboundDelivery(url=url, params=params, keyword=keyword_of(params["Body"]))

    def _inbound_url(self) -> str:
        if self.config.app_base_url is None:
            raise LookupError("app_base_url is not configured")
        return self.config.app_base_url.rstrip("/") + INBOUND_PATH

    def media_of(self, message_sid: str) -> list[MediaRecord]:
        """A message's media, in attachment order; 20404 when the message is unknown."""
        with self._lock:
            return list(self._get_locked(message_sid).media)

    def media_file(self, message_sid: str, media_sid: str) -> MediaRecord:
        """One media file of a message; 20404 when either is unknown."""
        with self._lock:
            record = self._messages.get(message_sid)
            for media in record.media if record is not None else ():
                if media.sid == media_sid:
                    return media
        path = media_path(self.config.twilio_account_sid, message_sid, media_sid)
        raise TwilioApiError(20404, uri=path + ".json")

    # --- status lifecycle (dispatcher threads) --------------------------------------------

    def _delay(self) -> float:
        return self.config.callback_delay_ms / 1000

    def _schedule_advance(self, sid: str, generation: int) -> None:
        self._dispatcher.call_later(self._delay(), lambda: self._advance(sid, generation))

    def _advance(self, sid: str, generation: int) -> None:
        """Move a message to its next status, then tell its StatusCallback."""
        with self._lock:
            record = self._messages.get(sid)
            if generation != self._generation or record is None or not record.pending_statuses:
                return
            status = record.pending_statuses.pop(0)
            self._apply_status_locked(record, status)
            url = record.status_callback
            params = status_callback_params(record)
            if url is not None:
                record.callbacks.append({"status": status, "attempts": 0, "response_status": None})
        if url is None:
            self._schedule_next(record, generation)
        else:
            self._deliver(record, generation, url, params, attempt=1)

    def _apply_status_locked(self, record: MessageRecord, status: str) -> None:
        now = _now()
        record.status = status
        record.date_updated = now
        if status == "queued":
            record.num_segments = count_segments(record.body)
        elif status == "sent":
            record.date_sent = now
            record.charge()
        elif status in ("undelivered", "failed"):
            _, code = MAGIC_TO_OUTCOMES[record.to]
            record.error_code = code
            record.error_message = DELIVERY_ERRORS[code]

    def _deliver(
        self,
        record: MessageRecord,
        generation: int,
        url: str,
        params: dict[str, str],
        *,
        attempt: int,
    ) -> None:
        result = post_signed(url, params, auth_token=self.config.twilio_auth_token)
        retry = not result.ok and attempt < CALLBACK_ATTEMPTS
        with self._lock:
            if generation != self._generation:
                return
            self._note_callback_locked(record, result, attempt, final=not retry)
        if retry:
            self._dispatcher.call_later(
                CALLBACK_RETRY_DELAYS[attempt - 1],
                lambda: self._deliver(record, generation, url, params, attempt=attempt + 1),
            )
            return
        if not result.ok:
            log.warning(
                "sandbox.twilio.callback_failed",
                message_sid=record.sid,
                status=params["MessageStatus"],
                http_status=result.status,
                error=result.error,
            )
        self._schedule_next(record, generation)

    def _note_callback_locked(
        self, record: MessageRecord, result: WebhookResult, attempt: int, *, final: bool
    ) -> None:
        entry = record.callbacks[-1]
        entry["attempts"] = attempt
        entry["response_status"] = result.status
        if final:
            self._stats["callbacks_delivered" if result.ok else "callbacks_failed"] += 1

    def _schedule_next(self, record: MessageRecord, generation: int) -> None:
        with self._lock:
            more = bool(record.pending_statuses)
        if more:
            self._schedule_advance(record.sid, generation)
