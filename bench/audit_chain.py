"""Audit log: how fast the chain grows, one row per transaction (as a request writes it: by one
writer, and by WRITERS at once) and in groups of GROUP rows per transaction (record_audits(): a
campaign's chunk, a batch of provider events), and how fast `proirp audit verify` walks it, on
SQLite and (when reachable) PostgreSQL. Rows are appended while the chainer runs beside them, as
in a worker, and each rate counts until the last row is chained, not only written. The targets
on PostgreSQL: grouped >= 5,000 rows/s, single >= 800/s."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.chainer import Chainer, unchained_rows
from proirp.audit.keys import ChainKeyring, generate_chain_key, install_chain_keyring
from proirp.audit.service import AuditEntry, record_audit, record_audits
from proirp.audit.verify import verify_chain
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.db import create_db_engine, create_session_factory, transaction
from proirp.migrations.commands import upgrade

ROWS = 2000
WRITERS = 8
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


def _until_chained(engine: Engine, started: float) -> float:
    """Seconds from `started` until the chainer has chained every row."""
    while unchained_rows(engine):
        time.sleep(0.01)
    return time.perf_counter() - started


def _single_rows(factory: sessionmaker[Session], first: int, count: int) -> None:
    for i in range(first, first + count):
        with transaction(factory) as session:
            # The commonest row: a read of a client record.
            record_audit(session, actor=None, action=AuditAction.CLIENT_VIEWED, details={"i": i})


def run(kind: str) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp, _database(kind, Path(tmp)) as url:
        upgrade(url)
        engine = create_db_engine(url)
        factory = create_session_factory(engine)
        chainer = Chainer(engine, factory).start()
        try:
            started = time.perf_counter()
            _single_rows(factory, 0, ROWS)
            single_rate = ROWS / _until_chained(engine, started)

            started = time.perf_counter()
            each = ROWS // WRITERS
            with ThreadPoolExecutor(WRITERS) as pool:
                for done in [
                    pool.submit(_single_rows, factory, n * each, each) for n in range(WRITERS)
                ]:
                    done.result()
            concurrent_rate = each * WRITERS / _until_chained(engine, started)

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
            grouped_rate = GROUPED_ROWS / _until_chained(engine, started)
        finally:
            chainer.stop()
        total = ROWS + each * WRITERS + GROUPED_ROWS
        started = time.perf_counter()
        with transaction(factory) as session:
            report = verify_chain(session, anchors=FileAnchorStore(Path(tmp) / "anchors"))
        assert report.ok and report.rows_checked == total, report
        verify_rate = total / (time.perf_counter() - started)
        engine.dispose()
        return single_rate, concurrent_rate, grouped_rate, verify_rate


def main() -> None:
    install_vault(Vault([Fernet.generate_key().decode()]))
    install_chain_keyring(ChainKeyring([generate_chain_key()]))
    kinds = ["sqlite"] + (["postgres"] if _postgres_reachable() else [])
    print(
        f"audit chain: {ROWS} rows one transaction each (one writer, then {WRITERS} at once), "
        f"then {GROUPED_ROWS} in groups of {GROUP} (one transaction per group); each rate counts "
        "until the chainer running beside them has chained the last row"
    )
    print(
        f"{'database':<10} {'single rows/s':>14} {f'{WRITERS} writers rows/s':>18} "
        f"{'grouped rows/s':>15} {'verify rows/s':>14}"
    )
    for kind in kinds:
        single, concurrent, grouped, verify = run(kind)
        print(
            f"{kind:<10} {single:>14,.0f} {concurrent:>18,.0f} {grouped:>15,.0f} {verify:>14,.0f}"
        )


if __name__ == "__main__":
    main()
