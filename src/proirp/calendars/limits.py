"""Requests in flight per calendar account, counted across every process.

Outlook refuses a fifth concurrent request to one mailbox (429, MailboxConcurrency); so calls
for one integration wait here, up to WAIT_SECONDS, for one of the provider's `max_in_flight`
slots, else fail as a temporary provider error. Where the count is kept follows QUEUE_BACKEND:
in Redis (`redis`) or in the database (`postgres`), shared by every `serve` and `worker`
process (calendars/call_slots.py); in the process with the embedded SQLite queue (one process).

A shared slot is a lease, LEASE_SECONDS long (a little more than one Graph request's timeout)
and renewed every RENEW_SECONDS while its call runs (a sync's pages may take longer), so a
process killed while holding slots frees them within LEASE_SECONDS. Should the count ever be
passed all the same, Graph's 429 and its Retry-After are honoured (integrations/microsoft/graph.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import structlog
from sqlalchemy.exc import SQLAlchemyError

from proirp.calendars.call_slots import DatabaseLeases, LeaseStore, RedisLeases
from proirp.config import Settings
from proirp.integrations.base import ProviderTemporaryError
from proirp.integrations.calendar import CalendarProvider
from proirp.kit.db import create_db_engine

log = structlog.get_logger(__name__)

WAIT_SECONDS = 30.0
LEASE_SECONDS = 15.0  # Graph requests time out after 10 s (integrations/microsoft/adapter.py)
RENEW_SECONDS = LEASE_SECONDS / 3
POLL_SECONDS = 0.02
_STORE_ERRORS = (redis.RedisError, SQLAlchemyError)


def _busy(provider: str) -> ProviderTemporaryError:
    return ProviderTemporaryError(provider, None, "the calendar account is busy; try again shortly")


class LocalSlots:
    """A semaphore per account, for one process (the embedded SQLite queue)."""

    def __init__(self, *, wait: float = WAIT_SECONDS) -> None:
        self._wait = wait
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, provider: str, key: str, limit: int) -> Iterator[None]:
        with self._lock:
            slots = self._slots.get(key)
            if slots is None:
                slots = self._slots[key] = threading.BoundedSemaphore(limit)
        if not slots.acquire(timeout=self._wait):
            raise _busy(provider)
        try:
            yield
        finally:
            slots.release()


class SharedSlots:
    """Leases in a store every process shares; one thread renews this process's leases."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        wait: float = WAIT_SECONDS,
        lease: float = LEASE_SECONDS,
        renew_every: float = RENEW_SECONDS,
    ) -> None:
        self._store = store
        self._wait = wait
        self._lease = lease
        self._renew_every = renew_every
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # lease id -> key
        self._renewer: threading.Thread | None = None

    @contextmanager
    def hold(self, provider: str, key: str, limit: int) -> Iterator[None]:
        lease_id = uuid.uuid4().hex
        deadline = time.monotonic() + self._wait
        try:
            while not self._store.claim(key, lease_id, limit=limit, lease=self._lease):
                if time.monotonic() >= deadline:
                    raise _busy(provider)
                time.sleep(POLL_SECONDS)
        except _STORE_ERRORS as exc:
            raise ProviderTemporaryError(
                provider, None, "the calendar account's requests in flight could not be counted"
            ) from exc
        with self._lock:
            self._held[lease_id] = key
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_forever, name="calendar-slot-leases", daemon=True
                )
                self._renewer.start()
        try:
            yield
        finally:
            with self._lock:
                del self._held[lease_id]
            try:
                self._store.release(key, lease_id)
            except _STORE_ERRORS:
                log.warning("calendar.slot_release_failed")  # it expires on its own

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self._renew_every)
            with self._lock:
                held = list(self._held.items())
            for lease_id, key in held:
                try:
                    self._store.renew(key, lease_id, lease=self._lease)
                except _STORE_ERRORS:
                    log.warning("calendar.slot_renewal_failed")


Slots = LocalSlots | SharedSlots


def slots_for(settings: Settings, **options: float) -> Slots:
    """Where this process counts requests in flight, chosen by QUEUE_BACKEND."""
    if settings.queue_backend == "redis":
        return SharedSlots(RedisLeases(settings.redis_url), **options)
    if settings.queue_backend == "postgres" and settings.is_postgres:
        store = DatabaseLeases(create_db_engine(settings.sqlalchemy_url))
        return SharedSlots(store, **options)
    return LocalSlots(**({"wait": options["wait"]} if "wait" in options else {}))


_shared: dict[tuple[str, str, str], Slots] = {}
_shared_lock = threading.Lock()


@contextmanager
def in_flight(
    settings: Settings, provider: CalendarProvider, integration_id: str
) -> Iterator[None]:
    """Hold one of the account's slots for the duration of a provider call."""
    if provider.max_in_flight is None:
        yield
        return
    where = (settings.queue_backend, settings.redis_url, settings.sqlalchemy_url)
    with _shared_lock:
        slots = _shared.get(where)
        if slots is None:
            slots = _shared[where] = slots_for(settings)
    key = f"proirp:calendar-slots:{provider.name}:{integration_id}"
    with slots.hold(provider.name, key, provider.max_in_flight):
        yield
