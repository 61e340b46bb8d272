"""Anchors: the head of the log, signed, in an append-only file outside the database; verification
holds the chain to them, so removing the newest rows, or rewriting rows with the key, is caught."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from structlog.testing import capture_logs

from proirp.audit.anchors import Anchor, anchor_head
from proirp.audit.keys import ChainKeyring
from proirp.audit.models import AuditLog
from proirp.audit.tasks import anchor_head_periodically
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext
from tests.audit.conftest import ChainDatabase, all_rows, tamper, verify, write_rows
from tests.audit.test_keyed_chain import _rechain, _signer
from tests.conftest import TEST_AUDIT_KEYS, make_settings

KEYRING = ChainKeyring(TEST_AUDIT_KEYS)


def _anchor(db: ChainDatabase) -> Anchor | None:
    return anchor_head(db.engine, db.anchors, KEYRING.current)


def _lines(db: ChainDatabase) -> list[dict[str, object]]:
    return [json.loads(line) for line in db.anchors.path.read_text().splitlines()]


def test_the_head_is_anchored_in_a_private_file_holding_no_key(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)

    anchor = _anchor(chain_db)

    assert anchor is not None and anchor.row_id == ids[-1]
    path = chain_db.anchors.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [line] = _lines(chain_db)
    head = all_rows(chain_db)[-1]
    assert (line["row_id"], line["row_hash"], line["key_id"]) == (
        head.id,
        head.hash,
        KEYRING.current.key_id,
    )
    assert TEST_AUDIT_KEYS[0] not in path.read_text()
    report = verify(chain_db)
    assert (report.ok, report.anchored_id, report.anchored_at) == (
        True,
        ids[-1],
        anchor.anchored_at,
    )


def test_a_line_is_added_only_when_the_log_has_grown(chain_db: ChainDatabase) -> None:
    assert _anchor(chain_db) is None, "an empty log has no head to anchor"
    write_rows(chain_db, 2)
    assert _anchor(chain_db) is not None
    assert _anchor(chain_db) is None
    write_rows(chain_db, 1)
    assert _anchor(chain_db) is not None

    assert len(_lines(chain_db)) == 2
    assert verify(chain_db).ok


def test_the_worker_anchors_once_the_interval_has_passed(
    chain_db: ChainDatabase, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, audit_anchor_path=str(chain_db.anchors.path), audit_anchor_interval_minutes=5
    )
    context = JobContext(settings, chain_db.sessions)
    ids = write_rows(chain_db, 2)

    anchor_head_periodically(context)
    write_rows(chain_db, 1)
    anchor_head_periodically(context)  # within five minutes of the last: nothing
    assert [line["row_id"] for line in _lines(chain_db)] == [ids[-1]]

    # The last line an anchor of six minutes ago (of the same row): the interval has passed.
    anchored = all_rows(chain_db)[1]
    six_minutes_ago = utcnow() - timedelta(minutes=6)
    chain_db.anchors.append(
        Anchor.signed(
            KEYRING.current, row_id=anchored.id, row_hash=str(anchored.hash), at=six_minutes_ago
        )
    )
    anchor_head_periodically(context)

    assert _lines(chain_db)[-1]["row_id"] == all_rows(chain_db)[-1].id
    assert verify(chain_db).ok


def test_removing_the_newest_rows_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    anchor = _anchor(chain_db)
    assert anchor is not None

    tamper(chain_db, delete(AuditLog).where(AuditLog.id > ids[1]))

    report = verify(chain_db)
    assert (report.ok, report.rows_checked, report.first_bad_id) == (False, 2, None)
    assert report.problem == (
        f"the log ends at row {ids[1]}, but row {ids[-1]} was anchored at "
        f"{anchor.anchored_at.isoformat(timespec='seconds')}: "
        "rows were removed from the end (truncated)"
    )
    assert report.anchored_id == ids[-1]


def test_removing_every_row_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db, 2)
    _anchor(chain_db)

    tamper(chain_db, delete(AuditLog))

    report = verify(chain_db)
    assert not report.ok
    assert (report.problem or "").startswith(f"the log is empty, but row {ids[-1]} was anchored")


def test_the_head_is_not_anchored_below_an_earlier_anchor(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    _anchor(chain_db)
    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[-1]))

    with capture_logs() as logs:
        assert _anchor(chain_db) is None

    assert {"event": "audit.head_behind_anchor", "log_level": "error"}.items() <= logs[0].items()
    assert len(_lines(chain_db)) == 1


def test_rows_rewritten_with_the_key_itself_are_caught_by_the_anchor(
    chain_db: ChainDatabase,
) -> None:
    # Whoever holds the chain key can sign a rewritten chain; not the anchors already written.
    ids = write_rows(chain_db)
    anchor = _anchor(chain_db)
    assert anchor is not None

    _rechain(chain_db, ids[1], _signer(KEYRING.current))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id) == (False, ids[-1])
    when = anchor.anchored_at.isoformat(timespec="seconds")
    assert report.problem == f"does not match its anchor of {when} (rewritten)"


def test_an_anchored_row_removed_from_the_middle_is_named(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    _anchor(chain_db)
    write_rows(chain_db, 1)
    # With the key, the row after the anchored one is re-signed to follow the row before it.
    rows = {r.id: r for r in all_rows(chain_db)}
    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[-1]))
    after = max(rows)
    tamper(
        chain_db,
        update(AuditLog).where(AuditLog.id == after).values(prev_hash=rows[ids[-2]].hash),
    )
    _rechain(chain_db, after, _signer(KEYRING.current))

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id) == (False, ids[-1])
    assert (report.problem or "").startswith(f"row {ids[-1]}, anchored at ")


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("not an anchor at all", id="damaged"),
        pytest.param(None, id="forged"),
    ],
)
def test_an_anchor_line_that_is_not_signed_is_caught(
    chain_db: ChainDatabase, line: str | None
) -> None:
    write_rows(chain_db, 2)
    _anchor(chain_db)
    if line is None:
        # Moved back to an earlier row, as one hiding a truncation would: the MAC no longer fits.
        forged = _lines(chain_db)[0] | {"row_id": all_rows(chain_db)[0].id}
        line = json.dumps(forged)
    with chain_db.anchors.path.open("a") as handle:
        handle.write(line + "\n")

    report = verify(chain_db)

    assert not report.ok
    where = f"line 2 of {chain_db.anchors.path}"
    expected = "is not an anchor (damaged)" if "at all" in line else "is not signed by a configured"
    assert (report.problem or "").startswith(f"{where} {expected}")
