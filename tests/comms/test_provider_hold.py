"""After a Retry-After, no call for that sender reaches the provider before it allows, from any
worker thread or process: the pacer's hold, shared the way its window is (in the process for the
embedded queue, Redis for QUEUE_BACKEND=redis, the database for QUEUE_BACKEND=postgres)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proirp.comms.core import dispatch
from proirp.comms.core.pacing import SendPacer
from proirp.config import Settings
from proirp.migrations.commands import upgrade
from tests.conftest import make_settings
from tests.databases import fresh_database

HOLD = 0.6
Pacers = Callable[[], SendPacer]  # a new pacer, as another worker process would have


@pytest.fixture(params=["embedded", "redis", "postgres"])
def pacers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pacers]:
    name = f"hold-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("hold")
    if request.param == "embedded":
        settings = make_settings(tmp, queue_backend="sqlite")
        pacer = SendPacer(settings, rate=None, name=name)
        yield lambda: pacer  # one process: its threads share one pacer
    elif request.param == "redis":
        if os.environ.get("QUEUE_BACKEND") != "redis":
            pytest.skip("needs QUEUE_BACKEND=redis")
        settings = make_settings(tmp, queue_backend="redis")
        yield lambda: SendPacer(settings, rate=None, name=name)
    else:
        if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            pytest.skip("needs PostgreSQL")
        with fresh_database("postgres", tmp) as url:
            upgrade(url)
            settings = make_settings(tmp, database_url=url, queue_backend="postgres")
            yield lambda: SendPacer(settings, rate=None, name=name)


def test_a_hold_keeps_every_process_waiting_until_it_ends(pacers: Pacers) -> None:
    holder, other = pacers(), pacers()
    holder.hold("+15005550006", HOLD)
    started = time.monotonic()
    other.wait_for_slot("+15005550006")
    assert time.monotonic() - started >= HOLD - 0.05


def test_a_hold_is_for_its_sender_only(pacers: Pacers) -> None:
    pacers().hold("+15005550006", 30)
    started = time.monotonic()
    pacers().wait_for_slot("+15005550007")
    assert time.monotonic() - started < 0.5


def test_a_shorter_hold_never_shortens_a_longer_one(pacers: Pacers) -> None:
    pacer = pacers()
    pacer.hold("mail-send", HOLD)
    pacer.hold("mail-send", 0.05)
    started = time.monotonic()
    pacers().wait_for_slot("mail-send")
    assert time.monotonic() - started >= HOLD - 0.05


def test_threads_waiting_for_a_slot_all_wait_for_the_hold(pacers: Pacers) -> None:
    pacer = pacers()
    pacer.hold("+15005550006", HOLD)
    started = time.monotonic()
    went: list[float] = []

    def send() -> None:
        pacer = pacers()
        probe = pacer.wait_for_slot("+15005550006")
        went.append(time.monotonic() - started)
        pacer.answered("+15005550006", probe=probe, held_again=False)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(went) == 4 and min(went) >= HOLD - 0.05


def test_the_hold_goes_with_a_rate_too(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path, queue_backend="sqlite")
    pacer = SendPacer(settings, rate=50, name=f"hold-{uuid.uuid4().hex[:8]}")
    pacer.hold("+15005550006", HOLD)
    started = time.monotonic()
    pacer.wait_for_slot("+15005550006")
    assert time.monotonic() - started >= HOLD - 0.05


def test_a_60_second_outage_never_spends_the_default_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earliest each attempt can come (every backoff at its shortest): with the default
    SEND_MAX_ATTEMPTS, the last attempt comes after a 60 s outage has ended, however the outage
    answers (a 429's Retry-After only makes the waits longer)."""
    monkeypatch.setattr(dispatch.random, "uniform", lambda low, high: low)
    attempts = make_settings(tmp_path).send_max_attempts
    assert attempts == 8
    earliest = 0.0  # the first attempt, at the start of the outage
    for attempt in range(1, attempts - 1):
        earliest += dispatch.backoff_seconds(attempt, None)
    # The attempt before the last comes at 63 s at the earliest: the last is never needed.
    assert earliest > 60


def test_after_a_hold_one_call_goes_alone_until_it_is_answered(pacers: Pacers) -> None:
    pacers().hold("+15005550006", 0.3)
    probe = pacers().wait_for_slot("+15005550006")
    assert probe is True
    went: list[bool] = []
    other = threading.Thread(target=lambda: went.append(pacers().wait_for_slot("+15005550006")))
    other.start()
    other.join(0.6)
    assert went == []  # waiting for the probe's answer
    pacers().answered("+15005550006", probe=True, held_again=False)
    other.join(5)
    assert went == [False]  # and after an answer, calls go as before


def test_a_probe_held_again_keeps_the_others_waiting_for_the_new_hold(pacers: Pacers) -> None:
    pacers().hold("+15005550006", 0.2)
    assert pacers().wait_for_slot("+15005550006") is True
    pacers().hold("+15005550006", HOLD)  # the probe's answer: another Retry-After
    pacers().answered("+15005550006", probe=True, held_again=True)
    started = time.monotonic()
    assert pacers().wait_for_slot("+15005550006") is True  # the next probe, after the new hold
    assert time.monotonic() - started >= HOLD - 0.05
