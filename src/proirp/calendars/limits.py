"""Requests in flight per calendar account, within this process.

Outlook refuses a fifth concurrent request to one mailbox (429, MailboxConcurrency); so calls
for one integration wait here for one of the provider's `max_in_flight` slots. Each process
counts its own. A sync is one request at a time (its pages follow each other, and the worker
runs one sync per integration), so the web process's callers get the rest; should processes
together go over, Graph's 429 and its Retry-After are honoured (integrations/microsoft/graph.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from proirp.integrations.base import ProviderTemporaryError
from proirp.integrations.calendar import CalendarProvider

WAIT_SECONDS = 30.0
_lock = threading.Lock()
_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}


@contextmanager
def in_flight(provider: CalendarProvider, integration_id: str) -> Iterator[None]:
    """Hold one of the account's slots for the duration of a provider call."""
    if provider.max_in_flight is None:
        yield
        return
    key = (provider.name, integration_id)
    with _lock:
        slots = _slots.get(key)
        if slots is None:
            slots = _slots[key] = threading.BoundedSemaphore(provider.max_in_flight)
    if not slots.acquire(timeout=WAIT_SECONDS):
        raise ProviderTemporaryError(
            provider.name, None, "the calendar account is busy; try again shortly"
        )
    try:
        yield
    finally:
        slots.release()
