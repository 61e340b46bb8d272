"""/metrics: the product's numbers in Prometheus' text format, for the practice's monitoring.

Off unless METRICS_ENABLED (then a 404, like any path that is not served); with METRICS_TOKEN,
only for `Authorization: Bearer <token>`. No sign-in, no audit row: nothing here is PHI, and no
label carries a client, an address, a body, a token or anything a person typed.

Besides what this process counts as it works (`kit/metrics.py`: provider calls, webhook
refusals, calendar sync failures, audit rows) and Python's own, a scrape reads the state the
processes share: messages by channel and status, the queue's depth and how long the oldest due
message has waited, the status callbacks waiting to be applied, and each connected calendar's
sync state. Those are read from the database
and the queue at most once every MAX_AGE_SECONDS per process, however often it is scraped.
`proirp worker` serves its own counters on METRICS_WORKER_PORT (`serve_worker_metrics`).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from proirp.audit.chainer import waiting as audit_rows_waiting
from proirp.calendars.sync_status import CalendarSync, every_calendar
from proirp.comms.core.repository import counts_by_channel_and_status, oldest_due_queued
from proirp.comms.models import CommunicationStatus
from proirp.comms.sms.intake import backlog as intake_backlog
from proirp.config import Settings
from proirp.kit.deps import SessionDep, SettingsDep
from proirp.kit.errors import NotAuthenticated
from proirp.kit.time import utcnow
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)
router = APIRouter(tags=["metrics"])

MAX_AGE_SECONDS = 15.0
CHANNELS = ("sms", "email")
CALENDAR_PROVIDERS = ("google", "microsoft")
SYNC_STATES = ("ok", "syncing", "error", "needs_reauth")


@dataclass(frozen=True)
class Shared:
    """What the database and the queue said at one scrape (None: that source did not answer)."""

    messages: dict[tuple[str, str], int] | None = None
    oldest_due_seconds: float | None = None
    calendars: list[CalendarSync] | None = None
    queue_depth: int | None = None
    queue_scheduled: int | None = None
    audit_unchained: int | None = None
    audit_oldest_unchained_seconds: float | None = None
    status_intake: int | None = None


def _read_database(session: Session) -> Shared:
    now = utcnow()
    oldest = oldest_due_queued(session, now=now)
    unchained, oldest_unchained = audit_rows_waiting(session)
    return Shared(
        messages=counts_by_channel_and_status(session),
        oldest_due_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        calendars=every_calendar(session),
        audit_unchained=unchained,
        audit_oldest_unchained_seconds=(
            max(0.0, (now - oldest_unchained).total_seconds()) if oldest_unchained else 0.0
        ),
        status_intake=intake_backlog(session),
    )


def _read_queue() -> tuple[int, int]:
    return int(huey.pending_count()), int(huey.scheduled_count())


class SharedGauges(Collector):
    """The gauges read from the database and the queue, kept for MAX_AGE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared = Shared()
        self._read_at: float | None = None

    def refresh(self, session: Session) -> None:
        """Read the database and the queue again, unless the last reading is recent enough."""
        with self._lock:
            if self._read_at is not None and time.monotonic() - self._read_at < MAX_AGE_SECONDS:
                return
            try:
                shared = _read_database(session)
            except Exception as exc:  # a scrape still answers, without these gauges
                session.rollback()
                log.warning("metrics.database_unread", error=type(exc).__name__)
                shared = Shared()
            try:
                depth, scheduled = _read_queue()
                shared = replace(shared, queue_depth=depth, queue_scheduled=scheduled)
            except Exception as exc:
                log.warning("metrics.queue_unread", error=type(exc).__name__)
            self._shared = shared
            self._read_at = time.monotonic()

    def expire(self) -> None:
        """Forget the last reading: the next scrape reads again."""
        with self._lock:
            self._read_at = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # nothing to read while registering

    def collect(self) -> Iterator[GaugeMetricFamily]:
        shared = self._shared
        up = GaugeMetricFamily(
            "proirp_metrics_source_up",
            "Whether the last reading of the database or the queue for /metrics succeeded.",
            labels=["source"],
        )
        up.add_metric(["database"], 0 if shared.messages is None else 1)
        up.add_metric(["queue"], 0 if shared.queue_depth is None else 1)
        yield up
        yield from _message_gauges(shared)
        yield from _queue_gauges(shared)
        yield from _audit_gauges(shared)
        if shared.calendars is not None:
            yield from _calendar_gauges(shared.calendars)


def _message_gauges(shared: Shared) -> Iterator[GaugeMetricFamily]:
    if shared.messages is None:
        return
    messages = GaugeMetricFamily(
        "proirp_messages", "Messages by channel and status.", labels=["channel", "status"]
    )
    for channel in CHANNELS:
        for status in CommunicationStatus:
            messages.add_metric(
                [channel, status.value], shared.messages.get((channel, status.value), 0)
            )
    yield messages
    if shared.oldest_due_seconds is not None:
        yield GaugeMetricFamily(
            "proirp_queue_oldest_message_age_seconds",
            "How long the longest-waiting queued message has been due to go (0: none waits).",
            value=shared.oldest_due_seconds,
        )
    if shared.status_intake is not None:
        yield GaugeMetricFamily(
            "proirp_status_intake_backlog",
            "Provider status callbacks kept and not yet applied to their messages.",
            value=shared.status_intake,
        )


def _queue_gauges(shared: Shared) -> Iterator[GaugeMetricFamily]:
    if shared.queue_depth is not None:
        yield GaugeMetricFamily(
            "proirp_queue_depth", "Jobs waiting in the queue for a worker.", shared.queue_depth
        )
    if shared.queue_scheduled is not None:
        yield GaugeMetricFamily(
            "proirp_queue_scheduled",
            "Jobs held in the queue until a later time (retries, scheduled sends).",
            shared.queue_scheduled,
        )


def _audit_gauges(shared: Shared) -> Iterator[GaugeMetricFamily]:
    if shared.audit_unchained is None or shared.audit_oldest_unchained_seconds is None:
        return
    yield GaugeMetricFamily(
        "proirp_audit_rows_unchained",
        "Audit rows written and not yet signed into the chain (the chainer runs in the workers).",
        value=shared.audit_unchained,
    )
    yield GaugeMetricFamily(
        "proirp_audit_oldest_unchained_age_seconds",
        "How long the oldest audit row waiting for the chainer has waited (0: none waits).",
        value=shared.audit_oldest_unchained_seconds,
    )


def _calendar_gauges(calendars: list[CalendarSync]) -> Iterator[GaugeMetricFamily]:
    now = utcnow()
    counts = GaugeMetricFamily(
        "proirp_calendars",
        "Connected calendars by provider and sync state.",
        labels=["provider", "state"],
    )
    lag = GaugeMetricFamily(
        "proirp_calendar_sync_lag_seconds",
        "Since the oldest last successful sync among a provider's active calendars (0: none).",
        labels=["provider"],
    )
    for provider in CALENDAR_PROVIDERS:
        mine = [c for c in calendars if c.provider == provider]
        for state in SYNC_STATES:
            counts.add_metric([provider, state], sum(1 for c in mine if c.state == state))
        oldest: datetime | None = min((c.synced_since for c in mine if c.active), default=None)
        lag.add_metric([provider], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield counts
    yield lag


shared_gauges = SharedGauges()
_registered = False
_register_lock = threading.Lock()


def register_shared_gauges() -> None:
    """Serve the shared gauges from this process's /metrics (once, however many apps)."""
    global _registered
    with _register_lock:
        if not _registered:
            REGISTRY.register(shared_gauges)
            _registered = True


def _check_token(request: Request, settings: Settings) -> None:
    if settings.metrics_token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise NotAuthenticated(
            "the metrics need Authorization: Bearer <METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if not settings.metrics_enabled:
        raise HTTPException(404)  # as for any path that is not served
    _check_token(request, settings)
    register_shared_gauges()
    shared_gauges.refresh(session)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsPortUnavailable(Exception):
    """METRICS_WORKER_PORT cannot be listened on; the message names the setting."""


def serve_worker_metrics(settings: Settings) -> bool:
    """With METRICS_ENABLED and METRICS_WORKER_PORT, serve this worker's own metrics there (in a
    thread); whether it does. The queue's and the database's gauges come from /metrics."""
    port = settings.metrics_worker_port
    if not settings.metrics_enabled or port is None:
        return False
    try:
        start_http_server(port, addr=settings.metrics_worker_host)
    except OSError as exc:
        raise MetricsPortUnavailable(
            f"METRICS_WORKER_PORT {port} on {settings.metrics_worker_host} cannot be listened on "
            f"({exc.strerror or type(exc).__name__}): choose another port"
        ) from None
    log.info("metrics.serving", host=settings.metrics_worker_host, port=port)
    return True
