"""Outlook's four requests in flight per mailbox hold across processes: counted in Redis
(QUEUE_BACKEND=redis) or in PostgreSQL (QUEUE_BACKEND=postgres), on real servers, by real
separate processes; a process killed while holding slots frees them when their leases expire."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import pytest

from proirp.calendars.call_slots import DatabaseLeases, LeaseStore, RedisLeases
from proirp.calendars.limits import SharedSlots, slots_for
from proirp.config import Settings
from proirp.integrations.base import ProviderTemporaryError
from proirp.kit.db import create_db_engine
from proirp.migrations.commands import upgrade
from tests.conftest import make_settings
from tests.databases import fresh_database, require_redis

LIMIT = 4  # Outlook's requests in flight per mailbox
PROCESSES = 3
THREADS = 3  # per process: 9 callers, more than twice the limit
CALLS = 3  # per caller
HOLD = 0.2  # seconds a call holds its slot
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(scope="module")
def postgres_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("slots")
    with fresh_database("postgres", tmp) as url:
        upgrade(url)
        yield make_settings(tmp, database_url=url, queue_backend="postgres")


@pytest.fixture(params=["redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "postgres":
        found: Settings = request.getfixturevalue("postgres_settings")
        return found
    shared = make_settings(tmp_path, queue_backend="redis")
    require_redis(shared.redis_url)
    return shared


def store_for(settings: Settings) -> LeaseStore:
    if settings.queue_backend == "redis":
        return RedisLeases(settings.redis_url)
    return DatabaseLeases(create_db_engine(settings.sqlalchemy_url))


def a_mailbox() -> str:
    return f"proirp:calendar-slots:microsoft:{uuid.uuid4()}"


# --- what runs in the other processes --------------------------------------------------------


def _make_calls(
    settings: Settings,
    key: str,
    current: Synchronized[int],
    highest: Synchronized[int],
    done: Synchronized[int],
    ready: Any,
) -> None:
    """One process: its own slots (as a `serve` or `worker` would have), THREADS callers, who
    start together with the other processes' callers."""
    slots = slots_for(settings)

    def caller() -> None:
        ready.wait(60)
        for _ in range(CALLS):
            with slots.hold("microsoft", key, LIMIT):
                with current.get_lock():
                    current.value += 1
                    highest.value = max(highest.value, current.value)
                time.sleep(HOLD)
                with current.get_lock():
                    current.value -= 1
            with done.get_lock():
                done.value += 1

    threads = [threading.Thread(target=caller) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _hold_until_killed(settings: Settings, key: str, holding: Any) -> None:
    """Take every slot of the mailbox and hang on to them until SIGKILL."""
    slots = SharedSlots(store_for(settings), lease=1.0, renew_every=0.2)

    def hold() -> None:
        with slots.hold("microsoft", key, LIMIT):
            holding.release()
            time.sleep(600)

    for _ in range(LIMIT):
        threading.Thread(target=hold, daemon=True).start()
    time.sleep(600)


# --- the tests ---------------------------------------------------------------------------------


def test_processes_together_hold_at_most_four_requests_in_flight(settings: Settings) -> None:
    key = a_mailbox()
    current, highest, done = SPAWN.Value("i", 0), SPAWN.Value("i", 0), SPAWN.Value("i", 0)
    ready = SPAWN.Barrier(PROCESSES * THREADS)
    processes = [
        SPAWN.Process(target=_make_calls, args=(settings, key, current, highest, done, ready))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert done.value == PROCESSES * THREADS * CALLS
    # Nine callers in three processes, never more than four at once; each process counting its
    # own would have let nine in.
    assert highest.value == LIMIT


def test_a_killed_process_frees_its_slots_when_their_leases_expire(settings: Settings) -> None:
    key = a_mailbox()
    holding = SPAWN.Semaphore(0)
    holder = SPAWN.Process(target=_hold_until_killed, args=(settings, key, holding))
    holder.start()
    try:
        for _ in range(LIMIT):
            assert holding.acquire(timeout=60)
        # The holder renews its leases (1 s) while it lives: held well past one lease.
        mine = SharedSlots(store_for(settings), wait=1.5)
        with pytest.raises(ProviderTemporaryError), mine.hold("microsoft", key, LIMIT):
            pass
    finally:
        os.kill(holder.pid or 0, signal.SIGKILL)
        holder.join(10)
    started = time.monotonic()
    mine = SharedSlots(store_for(settings), wait=10)
    with mine.hold("microsoft", key, LIMIT):
        freed_after = time.monotonic() - started
    assert freed_after <= 3.0  # one lease (1 s) after the kill, and a busy machine's slack


def test_the_wait_for_a_slot_times_out_as_a_temporary_error(settings: Settings) -> None:
    key = a_mailbox()
    other = SharedSlots(store_for(settings))  # another process, by its own connections
    taken = threading.Barrier(LIMIT + 1)
    release = threading.Event()

    def hold() -> None:
        with other.hold("microsoft", key, LIMIT):
            taken.wait(10)
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(LIMIT)]
    for thread in threads:
        thread.start()
    try:
        taken.wait(10)
        mine = SharedSlots(store_for(settings), wait=0.5)
        started = time.monotonic()
        with pytest.raises(ProviderTemporaryError, match="busy"), mine.hold("microsoft", key, 4):
            pass
        assert time.monotonic() - started >= 0.5
        # Another mailbox has slots of its own, held or not.
        with mine.hold("microsoft", a_mailbox(), LIMIT):
            pass
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    # Released after the calls: the mailbox's slots are free again at once.
    with mine.hold("microsoft", key, LIMIT):
        pass


def test_a_release_after_the_lease_expired_frees_no_one_elses_slot(settings: Settings) -> None:
    store, key = store_for(settings), a_mailbox()
    assert store.claim(key, "gone", limit=1, lease=0.2)
    assert not store.claim(key, "second", limit=1, lease=5)
    time.sleep(0.3)  # its holder died: no renewal
    assert not store.renew(key, "gone", lease=5)  # too late to renew it
    assert store.claim(key, "second", limit=1, lease=5)
    store.release(key, "gone")  # the late release of the expired lease
    assert not store.claim(key, "third", limit=1, lease=5)
    store.release(key, "second")
    assert store.claim(key, "third", limit=1, lease=5)
