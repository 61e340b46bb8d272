"""SendGridSandbox: accepted mail, dynamic templates, knobs, counters and the Event Webhook queue.

All state sits behind one lock: uvicorn serves requests on its event loop while the dispatcher's
threads post event batches, and tests read the ledger from yet another thread.

Events that fall due together travel together, as SendGrid batches them: an accepted send puts
each copy's first event in a queue and, unless one is already waiting, schedules a flush after
`event_delay_ms`; a flush posts up to MAX_BATCH_EVENTS queued events as one signed request, and
once that request is answered each copy's next event joins the queue. So a copy's events arrive
in order, one batch apart, and copies sent close together share batches.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from proirp.sandbox.config import SandboxConfig
from proirp.sandbox.dispatch import Dispatcher, WebhookResult
from proirp.sandbox.knobs import SenderState
from proirp.sandbox.sendgrid.auth import check_bearer
from proirp.sandbox.sendgrid.copies import DeliveredCopy, expand_copies, new_message_id
from proirp.sandbox.sendgrid.errors import control_error, forbidden, too_many_requests
from proirp.sandbox.sendgrid.events import (
    MAX_BATCH_EVENTS,
    build_event,
    encode_batch,
    lifecycle_for,
)
from proirp.sandbox.sendgrid.knobs import STAT_NAMES, Knobs
from proirp.sandbox.sendgrid.mail import MailSend
from proirp.sandbox.sendgrid.ratelimit import AccountRateLimiter
from proirp.sandbox.sendgrid.signing import post_signed_events
from proirp.sandbox.sendgrid.templates import DynamicTemplate, new_template_id

log = structlog.get_logger(__name__)

EVENTS_PATH = "/webhooks/sendgrid/events"
# SendGrid retries a refused batch for 24 hours at growing intervals; the sandbox for as long as
# its event_retry_seconds knob says, at these (the last one repeats).
EVENT_RETRY_DELAYS = (0.1, 0.5, 2.5, 12.5, 30.0)


def event_retry_delay(attempt: int, *, tried_for: float, window: float) -> float | None:
    """Seconds before the try after `attempt` (1 = the first), or None: the batch has been
    retried for as long as it will be."""
    delay = EVENT_RETRY_DELAYS[min(attempt, len(EVENT_RETRY_DELAYS)) - 1]
    return delay if tried_for + delay <= window + 1e-9 else None


@dataclass(frozen=True)
class _Batch:
    """One Event Webhook request on its way (with its retries)."""

    generation: int
    url: str
    copies: list[DeliveredCopy]
    events: list[dict[str, Any]]
    payload: bytes
    duplicate: bool


class SendGridSandbox(SenderState[Knobs]):
    """State and behaviour behind the SendGrid routes (one instance per sandbox)."""

    _limiter: AccountRateLimiter

    def __init__(self, config: SandboxConfig, *, dispatcher: Dispatcher | None = None) -> None:
        self.config = config
        super().__init__(STAT_NAMES)
        self._dispatcher = dispatcher or Dispatcher(name="sandbox-sendgrid")
        self._copies: list[DeliveredCopy] = []  # acceptance order, oldest first
        self._by_message: dict[str, list[DeliveredCopy]] = {}  # X-Message-Id -> its copies
        self._templates: dict[str, DynamicTemplate] = {}
        self._pending: list[tuple[DeliveredCopy, str]] = []  # events due at the next flush
        self._flush_scheduled = False
        self._batches = 0  # event batches built since the last reset (for duplicate_every)
        self._generation = 0  # bumped by reset(); stale background jobs then do nothing

    def _initial_knobs(self) -> Knobs:
        return Knobs(
            rps=self.config.sendgrid_rps,
            latency_ms=self.config.latency_ms,
            event_delay_ms=self.config.event_delay_ms,
        )

    @property
    def events_url(self) -> str | None:
        """Where the application receives the Event Webhook, if the sandbox knows the app."""
        if self.config.app_base_url is None:
            return None
        return self.config.app_base_url.rstrip("/") + EVENTS_PATH

    # --- access ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> None:
        """Check the bearer API key; raise SendGrid's 401 otherwise."""
        check_bearer(authorization, api_key=self.config.sendgrid_api_key)

    def require_scope(self, scope: str) -> None:
        """Raise SendGrid's 403 unless the key's scopes (api_key_scopes knob) include `scope`."""
        with self._lock:
            if scope not in self._knobs.api_key_scopes:
                self._stats["rejected_403"] += 1
                raise forbidden()

    # --- knobs and rate -------------------------------------------------------------------

    def _knobs_changed_locked(self, names: Collection[str]) -> None:
        if "rps" in names:
            self._limiter = AccountRateLimiter(self._knobs.rps)

    def admit_rate(self) -> None:
        """Take one mail/send from the account's rate; raise 429 with X-RateLimit-* when over."""
        with self._lock:
            decision = self._limiter.try_acquire()
            if not decision.allowed:
                self._stats["rejected_429"] += 1
                raise too_many_requests(decision.headers())

    # --- dynamic templates ----------------------------------------------------------------

    def create_template(
        self, *, name: str, subject: str, html: str, text: str | None
    ) -> dict[str, Any]:
        """Store a dynamic template (already checked by the caller); returns it with its `d-` ID."""
        template = DynamicTemplate(new_template_id(), name, subject, html, text)
        with self._lock:
            self._templates[template.id] = template
        return template.resource()

    def templates(self) -> list[dict[str, Any]]:
        """The stored dynamic templates, oldest first."""
        with self._lock:
            return [template.resource() for template in self._templates.values()]

    def has_template(self, template_id: str) -> bool:
        """Whether mail/send may name this template_id."""
        with self._lock:
            return template_id in self._templates

    # --- mail -----------------------------------------------------------------------------

    def accept(self, mail: MailSend) -> str:
        """Record a validated send (one ledger entry per copy) and queue its events.

        Returns the X-Message-Id SendGrid would answer with.
        """
        x_message_id = new_message_id()
        with self._lock:
            template = self._templates.get(mail.template_id) if mail.template_id else None
            copies = expand_copies(
                mail, x_message_id=x_message_id, template=template, accepted_at=datetime.now(UTC)
            )
            self._copies.extend(copies)
            self._by_message[x_message_id] = copies
            self._stats["accepted"] += 1
            self._stats["recipients"] += len(copies)
            if self._knobs.events and self.events_url is not None:
                for copy in copies:
                    first, *rest = lifecycle_for(copy.email)
                    copy.pending_events = rest
                    self._pending.append((copy, first))
                self._schedule_flush_locked()
        return x_message_id

    def ledger(self) -> list[dict[str, Any]]:
        """Every delivered copy, oldest first, with its events so far."""
        with self._lock:
            return [copy.ledger_entry() for copy in self._copies]

    def reset(self) -> None:
        """Forget mail, templates, queued events and counters; knobs return to the start config."""
        with self._lock:
            self._generation += 1
            self._copies.clear()
            self._by_message.clear()
            self._templates.clear()
            self._pending.clear()
            self._flush_scheduled = False
            self._batches = 0
            self._reset_knobs_locked()

    def close(self) -> None:
        """Stop background work (events not yet posted are dropped)."""
        self._dispatcher.close()

    # --- simulated recipient actions (control route; blocking) ----------------------------

    def post_event(
        self, x_message_id: str, email: str, name: str, extra: dict[str, Any]
    ) -> tuple[WebhookResult, list[dict[str, Any]]]:
        """Post one signed batch with one event for a delivered copy, now; what the app answered."""
        url = self.events_url
        if url is None:
            raise control_error(409, "the sandbox was started without app_base_url")
        with self._lock:
            copy = self._find_copy_locked(x_message_id, email)
            generation = self._generation
            event = build_event(copy, name, timestamp=int(time.time()), extra=extra)
        result = post_signed_events(
            url, encode_batch([event]), private_key_b64=self.config.sendgrid_webhook_private_key
        )
        with self._lock:
            if generation == self._generation:
                self._count_batch_locked(result, 1)
                copy.events.append(_event_log(event, result, attempts=1, duplicated=False))
        return result, [event]

    def _find_copy_locked(self, x_message_id: str, email: str) -> DeliveredCopy:
        for copy in self._by_message.get(x_message_id, []):
            if copy.email.lower() == email.lower():
                return copy
        raise control_error(404, "no delivered copy has this x_message_id and email")

    # --- Event Webhook batches (dispatcher threads) ---------------------------------------

    def _schedule_flush_locked(self, delay: float | None = None) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        generation = self._generation
        if delay is None:
            delay = self._knobs.event_delay_ms / 1000
        self._dispatcher.call_later(delay, lambda: self._flush(generation))

    def _flush(self, generation: int) -> None:
        """Post the queued events (up to MAX_BATCH_EVENTS) as one signed batch."""
        with self._lock:
            if generation != self._generation:
                return
            self._flush_scheduled = False
            due = self._pending[:MAX_BATCH_EVENTS]
            del self._pending[:MAX_BATCH_EVENTS]
            if self._pending:
                self._schedule_flush_locked(delay=0.0)
            url = self.events_url
            if not due or url is None:
                return
            if not self._knobs.events:  # switched off meanwhile: these copies fall silent
                for copy, _ in due:
                    copy.pending_events.clear()
                return
            timestamp = int(time.time())
            events = [build_event(copy, name, timestamp=timestamp) for copy, name in due]
            self._batches += 1
            every = self._knobs.duplicate_every
            duplicate = every > 0 and self._batches % every == 0
        batch = _Batch(
            generation=generation,
            url=url,
            copies=[copy for copy, _ in due],
            events=events,
            payload=encode_batch(events),
            duplicate=duplicate,
        )
        self._deliver(batch, attempt=1)

    def _deliver(self, batch: _Batch, *, attempt: int, tried_for: float = 0.0) -> None:
        key = self.config.sendgrid_webhook_private_key
        result = post_signed_events(batch.url, batch.payload, private_key_b64=key)
        if not result.ok:
            with self._lock:
                window = self._knobs.event_retry_seconds
            delay = event_retry_delay(attempt, tried_for=tried_for, window=window)
            if delay is not None:
                self._dispatcher.call_later(
                    delay,
                    lambda: self._deliver(batch, attempt=attempt + 1, tried_for=tried_for + delay),
                )
                return
        # SendGrid delivers some batches twice; the app must dedupe on sg_event_id.
        again = (
            post_signed_events(batch.url, batch.payload, private_key_b64=key)
            if result.ok and batch.duplicate
            else None
        )
        with self._lock:
            if batch.generation != self._generation:
                return
            for answer in (result, again):
                if answer is not None:
                    self._count_batch_locked(answer, len(batch.events))
            for copy, event in zip(batch.copies, batch.events, strict=True):
                copy.events.append(
                    _event_log(event, result, attempts=attempt, duplicated=again is not None)
                )
                if copy.pending_events:
                    self._pending.append((copy, copy.pending_events.pop(0)))
            if self._pending:
                self._schedule_flush_locked()
        if not result.ok:
            log.warning(
                "sandbox.sendgrid.event_batch_failed",
                events=len(batch.events),
                attempts=attempt,
                http_status=result.status,
                error=result.error,
            )

    def _count_batch_locked(self, result: WebhookResult, events: int) -> None:
        if result.ok:
            self._stats["event_batches_posted"] += 1
            self._stats["events_posted"] += events
        else:
            self._stats["event_batches_failed"] += 1


def _event_log(
    event: dict[str, Any], result: WebhookResult, *, attempts: int, duplicated: bool
) -> dict[str, Any]:
    """What a copy's ledger entry says about one posted event."""
    return {
        "event": event["event"],
        "sg_event_id": event["sg_event_id"],
        "attempts": attempts,
        "response_status": result.status,
        "duplicated": duplicated,
    }
