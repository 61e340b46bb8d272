"""Audit log: how fast the chain grows, one row per transaction (as a request writes it) and in
groups of GROUP rows per transaction (record_audits(): a campaign's chunk, a batch of provider
events), and how fast `proirp audit verify` walks it, on SQLite and (when reachable)
PostgreSQL. The issue's targets on PostgreSQL: grouped >= 5,000 rows/s, single >= 800/s."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.keys import ChainKeyring, generate_chain_key, install_chain_keyring
from proirp.audit.service import AuditEntry, record_audit, record_audits
from proirp.audit.verify import verify_chain
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.db import create_db_engine, create_session_factory, transaction
from proirp.migrations.commands import upgrade

ROWS = 2000
GROUP = 100
GROUPED_ROWS = 20_000
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    name = f"proirp_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return False
    return True


def run(kind: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp, _database(kind, Path(tmp)) as url:
        upgrade(url)
        engine = create_db_engine(url)
        factory = create_session_factory(engine)
        started = time.perf_counter()
        for i in range(ROWS):
            with transaction(factory) as session:
                # The commonest row: a read of a client record.
                record_audit(
                    session, actor=None, action=AuditAction.CLIENT_VIEWED, details={"i": i}
                )
        append_rate = ROWS / (time.perf_counter() - started)
        started = time.perf_counter()
        for first in range(0, GROUPED_ROWS, GROUP):
            with transaction(factory) as session:
                record_audits(
                    session,
                    [
                        AuditEntry(None, AuditAction.SMS_BLOCKED, details={"i": i})
                        for i in range(first, first + GROUP)
                    ],
                )
        grouped_rate = GROUPED_ROWS / (time.perf_counter() - started)
        total = ROWS + GROUPED_ROWS
        started = time.perf_counter()
        with transaction(factory) as session:
            report = verify_chain(session, anchors=FileAnchorStore(Path(tmp) / "anchors"))
        assert report.ok and report.rows_checked == total
        verify_rate = total / (time.perf_counter() - started)
        engine.dispose()
        return append_rate, grouped_rate, verify_rate


def main() -> None:
    install_vault(Vault([Fernet.generate_key().decode()]))
    install_chain_keyring(ChainKeyring([generate_chain_key()]))
    kinds = ["sqlite"] + (["postgres"] if _postgres_reachable() else [])
    print(
        f"audit chain: {ROWS} rows one transaction each, then {GROUPED_ROWS} in groups of "
        f"{GROUP} (one transaction and one lock per group)"
    )
    print(f"{'database':<10} {'single rows/s':>14} {'grouped rows/s':>15} {'verify rows/s':>14}")
    for kind in kinds:
        single, grouped, verify = run(kind)
        print(f"{kind:<10} {single:>14,.0f} {grouped:>15,.0f} {verify:>14,.0f}")


if __name__ == "__main__":
    main()
