"""The database itself keeps the audit log append-only, and concurrent writers keep one chain."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from proirp.audit.actions import AuditAction
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit
from proirp.audit.verify import verify_chain
from proirp.kit.db import transaction
from tests.audit.conftest import ChainDatabase, all_rows, write_rows

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

    rows = all_rows(chain_db)
    assert len(rows) == THREADS * RECORDS_EACH
    assert len({r.prev_hash for r in rows}) == len(rows), (
        "two rows share a parent: the chain forked"
    )
    assert {(r.actor_user_id, r.details["i"]) for r in rows} == {
        (f"worker{n}", i) for n in range(THREADS) for i in range(RECORDS_EACH)
    }
    with transaction(chain_db.sessions) as session:
        report = verify_chain(session)
    assert (report.ok, report.rows_checked) == (True, THREADS * RECORDS_EACH)
