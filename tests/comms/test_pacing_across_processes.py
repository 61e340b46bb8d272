"""With QUEUE_BACKEND=postgres, worker processes share no Redis: their pace is kept in the
database, so two processes together never go past the rate in any one-second window."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proirp.comms.core.pacing import SendPacer
from proirp.config import Settings
from proirp.migrations.commands import upgrade
from tests.conftest import make_settings
from tests.databases import fresh_database

pytestmark = pytest.mark.postgres

RATE = 5
CALLS_EACH = 6  # per thread: 2 processes x 2 threads x 6 = 24 calls at 5/s


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("pace")
    with fresh_database("postgres", tmp) as url:
        upgrade(url)
        yield make_settings(tmp, database_url=url, queue_backend="postgres")


def test_two_processes_share_one_pace(settings: Settings, tmp_path: Path) -> None:
    # Two pacers, each with its own engine: as two worker processes would have.
    pacers = [SendPacer(settings, rate=RATE, name="sms-pace") for _ in range(2)]
    taken: list[float] = []
    lock = threading.Lock()

    def send(pacer: SendPacer) -> None:
        for _ in range(CALLS_EACH):
            pacer.wait_for_slot("+15005550006")
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=send, args=(p,)) for p in pacers for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    total = len(threads) * CALLS_EACH
    assert len(taken) == total
    taken.sort()
    # Never more than RATE in any second. The window is kept by the database's clock and these
    # are the moments each wait returned, up to a commit later: 100 ms of slack. Two processes
    # pacing themselves would put 2 x RATE in a second.
    for index, moment in enumerate(taken):
        within = [t for t in taken[index:] if t < moment + 1.0 - 0.1]
        assert len(within) <= RATE, (index, len(within))
    assert taken[-1] - started >= (total / RATE) - 1 - 0.1


def test_another_sender_has_its_own_pace(settings: Settings) -> None:
    pacer = SendPacer(settings, rate=RATE, name="sms-pace")
    started = time.monotonic()
    for number in ("+15005550101", "+15005550102"):
        for _ in range(RATE):
            pacer.wait_for_slot(number)
    assert time.monotonic() - started < 0.9  # 5 each, at once: each number's own window
