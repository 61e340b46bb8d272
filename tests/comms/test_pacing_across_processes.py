"""With QUEUE_BACKEND=postgres, worker processes share no Redis: their pace is kept in the
database, so two processes together never go past the rate in any one-second window."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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
        # Every slot taken, by the database's clock, kept after the window has moved on: the
        # pacer deletes its own old rows.
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE slots_seen (key text, taken_at timestamptz)"))
            conn.execute(
                text(
                    "CREATE FUNCTION see_slot() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "INSERT INTO slots_seen VALUES (NEW.key, NEW.taken_at); RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER see_slot AFTER INSERT ON pace_slots "
                    "FOR EACH ROW EXECUTE FUNCTION see_slot()"
                )
            )
        engine.dispose()
        yield make_settings(tmp, database_url=url, queue_backend="postgres")


def slots_seen(settings: Settings, key: str) -> list[float]:
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM taken_at) FROM slots_seen WHERE key = :key "
                "ORDER BY taken_at"
            ),
            {"key": key},
        ).scalars()
        seen = [float(moment) for moment in rows]
    engine.dispose()
    return seen


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
    # Never more than RATE slots in any one-second window, by the database's clock that keeps
    # the window (a thread's own moment of waking can come late on a busy machine). Two
    # processes pacing themselves would put 2 x RATE in a second.
    seen = slots_seen(settings, "proirp:sms-pace:+15005550006")
    assert len(seen) == total
    for index, moment in enumerate(seen):
        within = [t for t in seen[index:] if t < moment + 1.0]
        assert len(within) <= RATE, (index, len(within))
    # And the calls really waited: 24 calls at 5/s take at least 3.8 s after the first.
    assert taken and max(taken) - started >= (total / RATE) - 1 - 0.1


def test_another_sender_has_its_own_pace(settings: Settings) -> None:
    pacer = SendPacer(settings, rate=RATE, name="sms-pace")
    started = time.monotonic()
    for number in ("+15005550101", "+15005550102"):
        for _ in range(RATE):
            pacer.wait_for_slot(number)
    assert time.monotonic() - started < 0.9  # 5 each, at once: each number's own window
