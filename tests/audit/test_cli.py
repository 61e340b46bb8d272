"""`proirp audit verify`: exits 0 on an intact log, 1 naming the first bad row otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import delete, update
from typer.testing import CliRunner

from proirp import cli, runtime
from proirp.audit.models import AuditLog
from proirp.kit import crypto
from proirp.worker.queue import huey
from tests.audit.conftest import ChainDatabase, tamper, write_rows
from tests.conftest import TEST_KEYS


@pytest.fixture
def verify_command(
    chain_db: ChainDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A runner for the CLI pointed at `chain_db`, leaving the test process as it found it.

    The command calls runtime.start(), which installs the vault, the queue storage, the current
    runtime and the log output process-wide; all four are put back afterwards so later tests keep
    the test app's (the command's log output is the runner's stream, closed once it returns).
    """
    saved_logging = dict(structlog.get_config())
    for module, name in [(runtime, "_current"), (crypto, "_vault")]:
        monkeypatch.setattr(module, name, getattr(module, name))
    for name in ("storage", "storage_class", "storage_kwargs"):
        monkeypatch.setattr(huey, name, getattr(huey, name))
    saved_runtime = runtime._current

    monkeypatch.chdir(tmp_path)  # no developer .env can leak into the settings
    monkeypatch.setenv("DATABASE_URL", chain_db.url)
    monkeypatch.setenv("PROIRP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PROIRP_ENCRYPTION_KEYS", ",".join(TEST_KEYS))
    monkeypatch.setenv("PROIRP_ENV", "test")
    monkeypatch.setenv("QUEUE_BACKEND", "sqlite")
    yield CliRunner()

    structlog.configure(**saved_logging)
    if runtime._current is not saved_runtime and runtime._current is not None:
        runtime._current.engine.dispose()  # before the throw-away database is dropped


def test_an_intact_log_exits_0(chain_db: ChainDatabase, verify_command: CliRunner) -> None:
    write_rows(chain_db, 4)

    result = verify_command.invoke(cli.app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "audit log intact: 4 rows checked" in result.stdout


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
