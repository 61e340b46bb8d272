"""`proirp audit verify` and `proirp audit chain`: verify exits 0 on an intact log, 1 naming the
first bad row otherwise."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import delete, update
from typer.testing import CliRunner

from proirp import cli
from proirp.audit.actions import AuditAction
from proirp.audit.chain import canonical_row
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit
from proirp.kit.db import transaction
from tests.audit.conftest import ChainDatabase, all_rows, tamper, write_rows

CANONICAL_FIELDS = (
    "created_at",
    "actor_user_id",
    "action",
    "client_id",
    "ip",
    "user_agent",
    "details",
)


def test_an_intact_log_exits_0(chain_db: ChainDatabase, verify_command: CliRunner) -> None:
    write_rows(chain_db, 4)

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "audit log intact: 4 rows checked" in result.stdout
    assert re.search(r"rows checked in \d+\.\d s \([\d,]+ rows/s\)", result.stdout), result.stdout


def test_rows_waiting_for_the_chainer_are_chained_by_the_commands(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    write_rows(chain_db, 2)
    for _ in range(3):
        with transaction(chain_db.sessions) as session:
            record_audit(session, actor=None, action=AuditAction.CLIENT_VIEWED)

    chained = verify_command.invoke(cli.app, ["audit", "chain"])
    assert chained.exit_code == 0, chained.output
    assert "chained 3 rows" in chained.stdout
    assert all(row.seq is not None for row in all_rows(chain_db))

    with transaction(chain_db.sessions) as session:
        record_audit(session, actor=None, action=AuditAction.CLIENT_VIEWED)
    verified = verify_command.invoke(cli.app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "chained 1 rows written since the chainer last ran" in verified.stdout
    assert "audit log intact: 6 rows checked in " in verified.stdout
    assert " rows/s)" in verified.stdout


def test_an_edited_row_exits_1_naming_it(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    ids = write_rows(chain_db)
    tamper(chain_db, update(AuditLog).where(AuditLog.id == ids[2]).values(details={"n": 0}))

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 1, result.output
    assert f"audit log BROKEN at row {ids[2]}: content does not match" in result.stderr
    assert "(2 rows before it are intact)" in result.stderr
    assert "intact:" not in result.stdout


def test_a_removed_row_exits_1_naming_the_row_after_it(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    ids = write_rows(chain_db)
    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[1]))

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 1, result.output
    assert f"audit log BROKEN at row {ids[2]}: does not follow the row before it" in result.stderr


def _rechain_with_sha256(db: ChainDatabase, victim: int, **changes: Any) -> None:
    """Rewrite row `victim` and recompute every hash after it with plain SHA-256, as anyone with
    write access to the database could: no key is needed for that."""
    rows = [r for r in all_rows(db) if r.id >= victim]
    statements = []
    prev_hash = str(rows[0].prev_hash)
    for row in rows:
        content = {name: getattr(row, name) for name in CANONICAL_FIELDS}
        if row.id == victim:
            content |= changes
        canonical = canonical_row(**content)
        new_hash = hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
        values = {**content, "prev_hash": prev_hash, "hash": new_hash}
        statements.append(update(AuditLog).where(AuditLog.id == row.id).values(values))
        prev_hash = new_hash
    tamper(db, *statements)


def test_a_rewritten_and_rechained_log_exits_1_naming_the_row(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    ids = write_rows(chain_db)
    _rechain_with_sha256(chain_db, ids[1], action="LOGOUT", details={"forged": "REWRITTEN-X"})

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 1, result.output
    assert f"audit log BROKEN at row {ids[1]}: content does not match" in result.stderr
    assert "REWRITTEN-X" not in result.output
    assert "intact:" not in result.stdout


def test_removing_the_newest_rows_after_an_anchor_exits_1(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    ids = write_rows(chain_db)
    anchored = verify_command.invoke(cli.app, ["audit", "anchor"])
    assert anchored.exit_code == 0, anchored.output
    assert f"anchored row {ids[-1]}" in anchored.stdout
    # Dropping the triggers (or working on a copy of the database) lets the newest rows go.
    tamper(chain_db, delete(AuditLog).where(AuditLog.id >= ids[3]))

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 1, result.output
    assert f"the log ends at row {ids[2]}, but row {ids[-1]} was anchored" in result.stderr
    assert "truncated" in result.stderr
