"""The hash chain on SQLite and PostgreSQL: an intact log verifies, and every kind of tampering
(an edited row, a removed row, two rows swapped, a forged row) is caught at the right row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import DBAPIError

from proirp.audit.models import GENESIS_HASH, AuditLog
from proirp.audit.verify import ChainReport
from tests.audit.conftest import ChainDatabase, all_rows, tamper, verify, write_rows

EDITED = "content does not match its hash (edited)"
OUT_OF_ORDER = "does not follow the row before it (a row was removed, inserted or reordered)"

# Columns outside the id whose change must break the chain, with a value to change them to.
FORGERIES: dict[str, Any] = {
    "action": "LOGOUT",
    "details": {"n": 2, "fields": ["phone"], "nested": {"ratio": 0.1, "é": 2}},
    "created_at": datetime(2020, 1, 1, tzinfo=UTC),
    "actor_user_id": "someone_else",
    "client_id": "another_client",
    "ip": "198.51.100.1",
    "user_agent": "curl/8",
    "hash": "f" * 64,
    "prev_hash": "e" * 64,
    "key_id": "0" * 16,
}
# What verification says of each forgery, where it is not EDITED.
NOT_EDITED = {
    "prev_hash": OUT_OF_ORDER,
    "key_id": f"signed with a key that is not configured (key id {'0' * 16})",
}
# The row's place in the chain (`seq`) is not content: moving a row is caught by the links.
CONTENT_COLUMNS = [c.name for c in AuditLog.__table__.columns if c.name not in ("id", "seq")]


def test_an_untouched_chain_verifies(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    rows = all_rows(chain_db)
    assert [r.id for r in rows] == ids
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert verify(chain_db) == ChainReport(ok=True, rows_checked=5)


def test_an_empty_log_verifies(chain_db: ChainDatabase) -> None:
    assert verify(chain_db) == ChainReport(ok=True, rows_checked=0)


def test_small_batches_walk_the_whole_chain(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    tamper(chain_db, update(AuditLog).where(AuditLog.id == ids[4]).values(action="LOGOUT"))

    report = verify(chain_db, batch_size=2)

    assert (report.ok, report.first_bad_id, report.rows_checked) == (False, ids[4], 4)


def test_editing_any_column_of_a_row_is_caught_at_that_row(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    victim = ids[2]
    original = all_rows(chain_db)[2]

    assert set(FORGERIES) == set(CONTENT_COLUMNS), "a new column needs a forgery here"
    # One database for every column (a fresh PostgreSQL one costs a second); each edit is undone.
    for column, forged in FORGERIES.items():
        row = update(AuditLog).where(AuditLog.id == victim)
        tamper(chain_db, row.values({column: forged}))

        report = verify(chain_db)
        expected = NOT_EDITED.get(column, EDITED)
        assert (report.ok, report.first_bad_id, report.problem) == (False, victim, expected), column
        assert report.rows_checked == 2, column

        # Putting the value back restores the chain: detection is about content, not "touched".
        tamper(chain_db, row.values({column: getattr(original, column)}))
        assert verify(chain_db).ok, column


def test_removing_a_middle_row_is_caught_at_the_row_after_it(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[2]))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.problem) == (False, ids[3], OUT_OF_ORDER)
    assert report.rows_checked == 2


def test_removing_the_first_row_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[0]))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.rows_checked) == (False, ids[1], 0)


def _swap_contents(db: ChainDatabase, a: int, b: int) -> None:
    rows = {r.id: r for r in all_rows(db)}
    content = {i: {c: getattr(rows[i], c) for c in CONTENT_COLUMNS} for i in (a, b)}
    placeholder = {"hash": "0" * 63 + "x"}  # the hash column is unique: park one row first
    tamper(
        db,
        update(AuditLog).where(AuditLog.id == a).values(placeholder),
        update(AuditLog).where(AuditLog.id == b).values(content[a]),
        update(AuditLog).where(AuditLog.id == a).values(content[b]),
    )


def test_swapping_two_rows_is_caught_at_the_earlier_one(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    _swap_contents(chain_db, ids[1], ids[3])

    # Each swapped row still matches its own hash; only its place in the chain is wrong.
    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.problem) == (False, ids[1], OUT_OF_ORDER)
    assert report.rows_checked == 1


def test_swapping_neighbours_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    _swap_contents(chain_db, ids[3], ids[4])

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.rows_checked) == (False, ids[3], 3)


def test_a_row_appended_behind_record_audits_back_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    last = all_rows(chain_db)[-1]
    forged = {c: getattr(last, c) for c in CONTENT_COLUMNS} | {
        "seq": (last.seq or 0) + 1,
        "prev_hash": last.hash,
        "hash": "a" * 64,
        "action": "LOGIN_SUCCEEDED",
    }

    # Only the chainer chains: the database refuses a row that arrives already chained...
    with pytest.raises(DBAPIError, match="append-only"), chain_db.engine.begin() as conn:
        conn.execute(insert(AuditLog).values(forged))
    # ...and with its guard lifted, the forged row does not verify.
    tamper(chain_db, insert(AuditLog).values(forged))
    forged_id = max(r.id for r in all_rows(chain_db))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.problem) == (False, forged_id, EDITED)
    assert report.rows_checked == len(ids)


def test_moving_a_row_to_another_place_in_the_chain_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    last_seq = all_rows(chain_db)[-1].seq or 0

    tamper(chain_db, update(AuditLog).where(AuditLog.id == ids[1]).values(seq=last_seq + 10))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.problem) == (False, ids[2], OUT_OF_ORDER)
    assert report.rows_checked == 1
