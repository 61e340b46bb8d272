"""The database itself keeps the audit log append-only, and concurrent writers keep one chain."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from proirp.audit.actions import AuditAction
from proirp.audit.chainer import chain_pending
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit
from proirp.kit.db import transaction
from tests.audit.conftest import ChainDatabase, all_rows, verify, write_rows

REFUSED = "append-only"


def _refused(db: ChainDatabase, statement: Executable) -> None:
    with pytest.raises(DBAPIError, match=REFUSED), db.engine.begin() as conn:
        conn.execute(statement)


def test_update_is_refused(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db, 2)
    before = [(r.action, r.details, r.hash) for r in all_rows(chain_db)]

    _refused(chain_db, update(AuditLog).where(AuditLog.id == ids[0]).values(action="LOGOUT"))
    _refused(chain_db, update(AuditLog).values(details={}))
    _refused(chain_db, text("UPDATE audit_logs SET prev_hash = hash"))

    assert [(r.action, r.details, r.hash) for r in all_rows(chain_db)] == before


def test_delete_is_refused(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db, 3)

    _refused(chain_db, delete(AuditLog).where(AuditLog.id == ids[1]))
    # No WHERE: SQLite's truncate optimisation must not skip the trigger.
    _refused(chain_db, text("DELETE FROM audit_logs"))

    assert [r.id for r in all_rows(chain_db)] == ids


def test_an_orm_change_to_a_row_is_refused_at_commit(chain_db: ChainDatabase) -> None:
    write_rows(chain_db, 1)

    with pytest.raises(DBAPIError, match=REFUSED), transaction(chain_db.sessions) as session:
        row = session.scalars(select(AuditLog)).one()
        row.client_id = "someone_else"

    with pytest.raises(DBAPIError, match=REFUSED), transaction(chain_db.sessions) as session:
        session.delete(session.scalars(select(AuditLog)).one())

    assert [r.client_id for r in all_rows(chain_db)] == ["client0"]


# SQLite has no TRUNCATE; its DELETE without WHERE is covered above.
@pytest.mark.parametrize(
    "chain_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_truncate_is_refused_on_postgres(chain_db: ChainDatabase) -> None:
    write_rows(chain_db, 2)

    _refused(chain_db, text("TRUNCATE audit_logs"))
    _refused(chain_db, text("TRUNCATE audit_logs RESTART IDENTITY CASCADE"))

    assert len(all_rows(chain_db)) == 2


THREADS = 8
RECORDS_EACH = 10


def test_concurrent_writers_keep_one_chain(chain_db: ChainDatabase) -> None:
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        start.wait()
        for i in range(RECORDS_EACH):
            with transaction(chain_db.sessions) as session:
                record_audit(
                    session, actor=f"worker{n}", action=AuditAction.CLIENT_VIEWED, details={"i": i}
                )
                # Work after reading the parent widens the window an unlocked writer would lose.
                session.execute(select(func.count()).select_from(AuditLog))

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(writer, n) for n in range(THREADS)]:
            future.result()

    chain_pending(chain_db.sessions)
    rows = all_rows(chain_db)
    assert len(rows) == THREADS * RECORDS_EACH
    assert len({r.prev_hash for r in rows}) == len(rows), (
        "two rows share a parent: the chain forked"
    )
    assert {(r.actor_user_id, r.details["i"]) for r in rows} == {
        (f"worker{n}", i) for n in range(THREADS) for i in range(RECORDS_EACH)
    }
    report = verify(chain_db)
    assert (report.ok, report.rows_checked) == (True, THREADS * RECORDS_EACH)


def _forged_copy_of(db: ChainDatabase, row_id: int, **changes: object) -> dict[str, object]:
    """Every column of row `row_id`, with `changes` made: what an attacker would write over it."""
    row = next(r for r in all_rows(db) if r.id == row_id)
    values = {c.name: getattr(row, c.name) for c in AuditLog.__table__.columns}
    return values | changes


def test_an_insert_of_a_chained_row_is_refused_wherever_it_goes(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db, 3)
    before = [(r.id, r.details, r.hash) for r in all_rows(chain_db)]

    # Below the oldest row (a free id), and into the place of a row that exists: only the
    # chainer chains, so a row that arrives with a hash is forged.
    below = _forged_copy_of(chain_db, ids[0], id=ids[0] - 1, hash="b" * 64)
    _refused(chain_db, insert(AuditLog).values(below))
    _refused(chain_db, insert(AuditLog).values(_forged_copy_of(chain_db, ids[1], hash="c" * 64)))

    assert [(r.id, r.details, r.hash) for r in all_rows(chain_db)] == before


@pytest.mark.parametrize("victim", [0, -1], ids=["oldest", "newest"])
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
@pytest.mark.parametrize("chain_db", [pytest.param("sqlite", id="sqlite")], indirect=True)
def test_insert_or_replace_is_refused_on_sqlite(
    chain_db: ChainDatabase, verb: str, victim: int
) -> None:
    # REPLACE deletes the row in the way without firing the DELETE trigger, then inserts.
    ids = write_rows(chain_db, 3)
    before = [(r.id, r.details, r.hash) for r in all_rows(chain_db)]
    forged = _forged_copy_of(chain_db, ids[victim], details={"rewritten": True})

    _refused(chain_db, insert(AuditLog).prefix_with("OR REPLACE").values(forged))
    _refused(
        chain_db,
        text(
            f"{verb} INTO audit_logs (id, created_at, actor_user_id, action, client_id, ip, "
            "user_agent, details, prev_hash, hash) SELECT id, created_at, actor_user_id, action, "
            "client_id, ip, user_agent, '{}', prev_hash, hash FROM audit_logs WHERE id = :id"
        ).bindparams(id=ids[victim]),
    )

    assert [(r.id, r.details, r.hash) for r in all_rows(chain_db)] == before


@pytest.mark.parametrize("target", ["id", "hash"])
def test_insert_on_conflict_do_update_is_refused(chain_db: ChainDatabase, target: str) -> None:
    ids = write_rows(chain_db, 3)
    before = [(r.id, r.details, r.hash) for r in all_rows(chain_db)]
    dialect_insert = postgresql.insert if chain_db.kind == "postgres" else sqlite.insert
    # On the id: the newest row's; on the hash: a new id above the newest, the newest's hash.
    forged = _forged_copy_of(chain_db, ids[-1], details={"rewritten": True})
    if target == "hash":
        forged["id"] = ids[-1] + 1
    statement = dialect_insert(AuditLog).values(forged)
    upsert = statement.on_conflict_do_update(
        index_elements=[target], set_={"details": statement.excluded.details}
    )

    _refused(chain_db, upsert)

    assert [(r.id, r.details, r.hash) for r in all_rows(chain_db)] == before
