"""An audit log chained with plain SHA-256 (before revision 0005) moves to the keyed chain: checked
first, signed again with the current key, and verifiable after; a broken one is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, BigInteger, String, column, select, table, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from proirp import cli
from proirp.audit import keys
from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.chain import canonical_row
from proirp.audit.keys import ChainKeyring, install_chain_keyring
from proirp.audit.models import GENESIS_HASH
from proirp.kit.db import create_db_engine, create_session_factory
from proirp.kit.time import UTCDateTime
from proirp.migrations.commands import alembic_config, upgrade
from tests.audit.conftest import KINDS, ChainDatabase, all_rows, lift_append_only_guard, verify
from tests.conftest import TEST_AUDIT_KEYS
from tests.databases import fresh_database

LEGACY_ROWS = 4
BEFORE_KEYED_CHAIN = "0004"

legacy_audit_logs = table(
    "audit_logs",
    column("id", BigInteger()),
    column("created_at", UTCDateTime()),
    column("actor_user_id", String()),
    column("action", String()),
    column("client_id", String()),
    column("ip", String()),
    column("user_agent", String()),
    column("details", JSON()),
    column("prev_hash", String()),
    column("hash", String()),
)


def _write_legacy_rows(engine: Engine, count: int = LEGACY_ROWS) -> list[dict[str, Any]]:
    """Rows as the release before the keyed chain wrote them: SHA-256 over the previous hash and
    the row's canonical content."""
    written, prev_hash = [], GENESIS_HASH
    started = datetime(2029, 5, 1, 9, tzinfo=UTC)
    for n in range(count):
        content: dict[str, Any] = {
            "created_at": started + timedelta(minutes=n),
            "actor_user_id": f"user{n}",
            "action": "CLIENT_VIEWED",
            "client_id": f"client{n}",
            "ip": "203.0.113.9",
            "user_agent": "pytest/1.0",
            "details": {"n": n, "nested": {"é": [n, 0.5]}},
        }
        row_hash = hashlib.sha256((prev_hash + canonical_row(**content)).encode()).hexdigest()
        row = {**content, "prev_hash": prev_hash, "hash": row_hash}
        with engine.begin() as conn:
            conn.execute(legacy_audit_logs.insert().values(row))
        written.append(row)
        prev_hash = row_hash
    return written


@pytest.fixture(params=KINDS)
def chain_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainDatabase]:
    """Here, a database at the revision before the keyed chain (`proirp` commands use it too)."""
    saved_keyring = keys._installed
    install_chain_keyring(ChainKeyring(TEST_AUDIT_KEYS))
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url, BEFORE_KEYED_CHAIN)
        engine = create_db_engine(url)
        anchors = FileAnchorStore(tmp_path / "anchors" / "audit")
        try:
            yield ChainDatabase(request.param, url, engine, create_session_factory(engine), anchors)
        finally:
            engine.dispose()
            install_chain_keyring(saved_keyring)


def _revision(db: ChainDatabase) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_a_sha256_chain_is_signed_again_and_verifies(chain_db: ChainDatabase) -> None:
    legacy = _write_legacy_rows(chain_db.engine)
    keyring = ChainKeyring(TEST_AUDIT_KEYS)

    upgrade(chain_db.url, audit_chain_keyring=keyring)

    rows = all_rows(chain_db)
    assert [r.details for r in rows[:LEGACY_ROWS]] == [row["details"] for row in legacy]
    assert {r.key_id for r in rows} == {keyring.current.key_id}
    assert not {r.hash for r in rows} & {row["hash"] for row in legacy}
    resigned = rows[-1]
    assert (resigned.action, resigned.details) == (
        "AUDIT_CHAIN_RESIGNED",
        {"rows": LEGACY_ROWS, "sha256_head": legacy[-1]["hash"]},
    )
    report = verify(chain_db)
    assert (report.ok, report.rows_checked) == (True, LEGACY_ROWS + 1)


def test_an_empty_log_needs_no_key(chain_db: ChainDatabase) -> None:
    upgrade(chain_db.url)

    assert _revision(chain_db) != BEFORE_KEYED_CHAIN
    assert verify(chain_db).ok


def test_rows_to_sign_and_no_key_stop_the_upgrade(chain_db: ChainDatabase) -> None:
    _write_legacy_rows(chain_db.engine)

    with pytest.raises(Exception, match=r"no key was given: run `proirp db upgrade`"):
        upgrade(chain_db.url)

    assert _revision(chain_db) == BEFORE_KEYED_CHAIN


def test_a_broken_sha256_chain_is_refused_and_nothing_changes(chain_db: ChainDatabase) -> None:
    legacy = _write_legacy_rows(chain_db.engine)
    with chain_db.engine.begin() as conn:
        lift_append_only_guard(conn, chain_db.kind)
        conn.execute(
            legacy_audit_logs.update()
            .where(legacy_audit_logs.c.hash == legacy[2]["hash"])
            .values(details={"n": 99})
        )
    with chain_db.engine.connect() as conn:
        victim = conn.execute(
            select(legacy_audit_logs.c.id).where(legacy_audit_logs.c.hash == legacy[2]["hash"])
        ).scalar_one()

    with pytest.raises(Exception, match=f"broken at row {victim}: content does not match") as err:
        upgrade(chain_db.url, audit_chain_keyring=ChainKeyring(TEST_AUDIT_KEYS))

    assert "Nothing was changed" in str(err.value)
    assert "99" not in str(err.value)
    assert _revision(chain_db) == BEFORE_KEYED_CHAIN
    with chain_db.engine.connect() as conn:
        hashes = conn.execute(select(legacy_audit_logs.c.hash).order_by("id")).scalars().all()
    assert hashes == [row["hash"] for row in legacy]


def test_downgrade_hashes_the_checked_chain_again_with_sha256(chain_db: ChainDatabase) -> None:
    _write_legacy_rows(chain_db.engine)
    keyring = ChainKeyring(TEST_AUDIT_KEYS)
    upgrade(chain_db.url, audit_chain_keyring=keyring)

    command.downgrade(alembic_config(chain_db.url, audit_chain_keyring=keyring), "0004")

    # What the earlier release would check; the upgrade checks it the same way, and passes.
    upgrade(chain_db.url, audit_chain_keyring=keyring)
    assert verify(chain_db).ok
    assert [r.action for r in all_rows(chain_db)][-2:] == ["AUDIT_CHAIN_RESIGNED"] * 2


def test_proirp_db_upgrade_signs_with_audit_chain_keys(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    _write_legacy_rows(chain_db.engine)

    upgraded = verify_command.invoke(cli.app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output

    result = verify_command.invoke(cli.app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"audit log intact: {LEGACY_ROWS + 1} rows checked" in result.stdout
