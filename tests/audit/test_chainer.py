"""Rows are appended with no lock and chained afterwards, in the order their transactions
committed, by one chainer at a time: the same keyed chain, and the same verify."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from proirp.audit.actions import AuditAction
from proirp.audit.chainer import Chainer, chain_pending, unchained_rows
from proirp.audit.models import GENESIS_HASH, AuditLog
from proirp.audit.service import AuditEntry, record_audit, record_audits
from proirp.audit.verify import verify_chain
from proirp.kit.db import lock_shared_writes, transaction
from tests.audit.conftest import ChainDatabase, all_rows, verify

REFUSED = "append-only"


def append(db: ChainDatabase, count: int = 1, actor: str = "user") -> list[int]:
    """`count` rows, each in its own committed transaction, left unchained."""
    ids = []
    for n in range(count):
        with transaction(db.sessions) as session:
            ids.append(
                record_audit(
                    session, actor=actor, action=AuditAction.CLIENT_VIEWED, details={"n": n}
                ).id
            )
    return ids


def test_a_row_is_appended_unchained_and_chained_in_order(chain_db: ChainDatabase) -> None:
    ids = append(chain_db, 3)
    rows = all_rows(chain_db)
    assert [(r.seq, r.hash, r.prev_hash, r.key_id) for r in rows] == [(None,) * 4] * 3
    assert unchained_rows(chain_db.engine) == 3

    assert chain_pending(chain_db.sessions) == 3

    rows = all_rows(chain_db)
    assert [r.id for r in sorted(rows, key=lambda r: r.seq or 0)] == ids
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert unchained_rows(chain_db.engine) == 0
    report = verify(chain_db)
    assert (report.ok, report.rows_checked, report.unchained) == (True, 3, 0)


def test_verify_counts_rows_not_chained_yet_apart(chain_db: ChainDatabase) -> None:
    append(chain_db, 2)
    chain_pending(chain_db.sessions)
    append(chain_db, 3)

    with transaction(chain_db.sessions) as session:
        report = verify_chain(session, anchors=chain_db.anchors)

    assert (report.ok, report.rows_checked, report.unchained) == (True, 2, 3)


def test_chaining_in_small_batches_continues_the_chain(chain_db: ChainDatabase) -> None:
    append(chain_db, 7)
    assert chain_pending(chain_db.sessions, batch_size=3) == 7
    append(chain_db, 2)
    assert chain_pending(chain_db.sessions, batch_size=3) == 2

    assert [r.seq for r in all_rows(chain_db)] == list(range(1, 10))
    assert verify(chain_db).rows_checked == 9


def test_grouped_rows_are_chained_in_the_order_given(chain_db: ChainDatabase) -> None:
    entries = [
        AuditEntry(actor="user", action=AuditAction.CLIENT_VIEWED, details={"n": n})
        for n in range(50)
    ]
    with transaction(chain_db.sessions) as session:
        assert record_audits(session, entries) == 50
    chain_pending(chain_db.sessions)

    rows = sorted(all_rows(chain_db), key=lambda r: r.seq or 0)
    assert [r.details["n"] for r in rows] == list(range(50))
    assert verify(chain_db).ok


@pytest.mark.parametrize(
    "chain_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_row_that_commits_late_is_chained_after_later_ids(chain_db: ChainDatabase) -> None:
    late = chain_db.sessions()
    try:
        early_id = record_audit(late, actor="late", action=AuditAction.CLIENT_VIEWED).id
        later_id = append(chain_db, 1, actor="on time")[0]
        assert later_id > early_id
        assert chain_pending(chain_db.sessions) == 1  # the uncommitted row is not seen
        late.commit()
    finally:
        late.close()
    assert chain_pending(chain_db.sessions) == 1

    by_place = sorted(all_rows(chain_db), key=lambda r: r.seq or 0)
    assert [r.id for r in by_place] == [later_id, early_id]
    assert verify(chain_db).ok


@pytest.mark.parametrize(
    "chain_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_appending_waits_for_no_lock(chain_db: ChainDatabase) -> None:
    """A writer holding the writers' lock (a message's change, say) does not hold up an audited
    read elsewhere: the row goes in at once."""
    holder = chain_db.sessions()
    try:
        lock_shared_writes(holder)
        with transaction(chain_db.sessions) as session:
            session.execute(text("SET LOCAL lock_timeout = '1s'"))
            record_audit(session, actor="reader", action=AuditAction.CLIENT_VIEWED)
    finally:
        holder.rollback()
        holder.close()
    assert len(all_rows(chain_db)) == 1


THREADS, ROWS_EACH = 6, 25


def test_writers_and_two_chainers_at_once_keep_one_chain(chain_db: ChainDatabase) -> None:
    done = threading.Event()
    failures: list[BaseException] = []

    def chainer() -> None:
        try:
            while not done.is_set():
                chain_pending(chain_db.sessions, batch_size=7, wait=False)
        except BaseException as exc:
            failures.append(exc)

    chainers = [threading.Thread(target=chainer) for _ in range(2)]
    for thread in chainers:
        thread.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(append, chain_db, ROWS_EACH, f"w{n}") for n in range(THREADS)]
            for future in futures:
                future.result()
    finally:
        done.set()
        for thread in chainers:
            thread.join()
    assert failures == []
    chain_pending(chain_db.sessions)

    rows = all_rows(chain_db)
    assert len(rows) == THREADS * ROWS_EACH
    assert sorted(r.seq for r in rows) == list(range(1, len(rows) + 1))  # type: ignore[type-var]
    report = verify(chain_db)
    assert (report.ok, report.rows_checked) == (True, len(rows))


def test_the_chainer_thread_chains_rows_within_a_second(chain_db: ChainDatabase) -> None:
    chainer = Chainer(chain_db.engine, chain_db.sessions).start()
    try:
        append(chain_db, 3)
        deadline = time.monotonic() + 5
        while unchained_rows(chain_db.engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        waited = 5 - (deadline - time.monotonic())
    finally:
        chainer.stop()
    assert unchained_rows(chain_db.engine) == 0
    assert waited < 1.5
    assert verify(chain_db).rows_checked == 3


def _refused(db: ChainDatabase, statement: object) -> None:
    with pytest.raises(DBAPIError, match=REFUSED), db.engine.begin() as conn:
        conn.execute(statement)  # type: ignore[call-overload]


def test_the_database_allows_chaining_a_row_and_nothing_else(chain_db: ChainDatabase) -> None:
    chained_id = append(chain_db, 1)[0]
    chain_pending(chain_db.sessions)
    waiting_id = append(chain_db, 1)[0]
    chained = update(AuditLog).where(AuditLog.id == chained_id)
    waiting = update(AuditLog).where(AuditLog.id == waiting_id)
    a_chaining = {"seq": 99, "key_id": "0" * 16, "prev_hash": "0" * 64, "hash": "9" * 64}

    _refused(chain_db, chained.values(seq=99))  # a chained row is never chained again
    _refused(chain_db, chained.values(hash="1" * 64))
    _refused(chain_db, waiting.values(action="LOGOUT"))  # content, before it is chained
    _refused(chain_db, waiting.values(a_chaining | {"action": "LOGOUT"}))  # ...or while
    _refused(chain_db, waiting.values(a_chaining | {"details": {"n": 9}}))
    _refused(chain_db, waiting.values(seq=99))  # a place without a hash
    _refused(chain_db, delete(AuditLog).where(AuditLog.id == waiting_id))

    with chain_db.engine.begin() as conn:  # what the chainer does
        conn.execute(waiting.values(a_chaining))
    rows = {r.id: r for r in all_rows(chain_db)}
    assert rows[waiting_id].seq == 99
