"""The chainer: gives appended audit rows their place in the keyed chain and signs them.

Rows are appended unchained, with no lock (proirp.audit.service). One chainer at a time (the
chainer's own advisory lock on PostgreSQL; BEGIN IMMEDIATE on SQLite) reads the unchained rows
that have committed, oldest id first, a batch at a time, and gives each the next `seq` and its
hash over the hash before it: the same keyed chain as ever, walked by `verify` in `seq` order.
A row whose transaction commits late is simply chained later, after rows with higher ids.

`Chainer` runs this in a thread of every process that runs jobs (`proirp worker`, or `proirp
serve` with the embedded queue), so a row is usually chained within a fraction of a second.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.chain import canonical_of, row_hash
from proirp.audit.keys import current_chain_keyring
from proirp.audit.models import GENESIS_HASH, AuditLog
from proirp.kit.db import transaction

log = structlog.get_logger(__name__)

CHAIN_BATCH = 2000
# How long an idle chainer waits before it looks again.
IDLE_SECONDS = 0.2
# Any constant works; only chainers take it (writers of rows take kit.db.lock_shared_writes).
_CHAINER_LOCK_KEY = 0x50524F495243  # "PROIRC"

_CONTENT = (
    AuditLog.id,
    AuditLog.created_at,
    AuditLog.actor_user_id,
    AuditLog.action,
    AuditLog.client_id,
    AuditLog.ip,
    AuditLog.user_agent,
    AuditLog.details,
)
_table = cast(Table, AuditLog.__table__)
_CHAIN_ROW = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"), _table.c.seq.is_(None))
    .values(
        seq=bindparam("row_seq"),
        key_id=bindparam("row_key_id"),
        prev_hash=bindparam("row_prev_hash"),
        hash=bindparam("row_hash"),
    )
)


_CHANGE_FIELDS = ("row_id", "row_seq", "row_key_id", "row_prev_hash", "row_hash")
_CHAIN_BATCH_POSTGRES = text(
    "UPDATE audit_logs SET seq = chained.seq, key_id = chained.key_id, "
    "prev_hash = chained.prev_hash, hash = chained.hash "
    "FROM unnest(CAST(:row_id AS bigint[]), CAST(:row_seq AS bigint[]), "
    "CAST(:row_key_id AS varchar[]), CAST(:row_prev_hash AS varchar[]), "
    "CAST(:row_hash AS varchar[])) AS chained (id, seq, key_id, prev_hash, hash) "
    "WHERE audit_logs.id = chained.id AND audit_logs.seq IS NULL"
)


def chain_pending(
    factory: sessionmaker[Session], *, batch_size: int = CHAIN_BATCH, wait: bool = True
) -> int:
    """Chain every row committed so far and not yet chained; returns how many were chained.
    With `wait` false it gives way at once when another chainer is at work (and returns 0)."""
    total = 0
    while True:
        chained = _chain_batch(factory, batch_size, wait)
        total += chained
        if chained < batch_size:
            return total


def chain_within(session: Session, *, batch_size: int = CHAIN_BATCH) -> int:
    """Chain every row this transaction can see and not yet chained, in `session`'s own
    transaction (waiting for the chainer's turn); what an admin's verification does first."""
    total = 0
    while True:
        chained = _chain_rows(session, batch_size, wait=True)
        total += chained
        if chained < batch_size:
            return total


def _chain_batch(factory: sessionmaker[Session], batch_size: int, wait: bool) -> int:
    with transaction(factory) as session:
        return _chain_rows(session, batch_size, wait)


def _chain_rows(session: Session, batch_size: int, wait: bool) -> int:
    """Chain up to `batch_size` rows in `session`'s transaction; 0 if another chainer has the
    turn and `wait` is false."""
    if not _take_turn(session, wait):
        return 0
    head = session.execute(
        select(AuditLog.seq, AuditLog.hash)
        .where(AuditLog.seq.is_not(None))
        .order_by(AuditLog.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (int(head[0] or 0), str(head[1])) if head else (0, GENESIS_HASH)
    rows = session.execute(
        select(*_CONTENT).where(AuditLog.seq.is_(None)).order_by(AuditLog.id).limit(batch_size)
    ).all()
    if not rows:
        return 0
    key = current_chain_keyring().current
    changes: list[dict[str, Any]] = []
    for row in rows:
        seq += 1
        canonical = canonical_of(row)
        signed = row_hash(key, prev_hash, canonical)
        changes.append(
            {
                "row_id": row.id,
                "row_seq": seq,
                "row_key_id": key.key_id,
                "row_prev_hash": prev_hash,
                "row_hash": signed,
            }
        )
        prev_hash = signed
    _write(session, changes)
    return len(changes)


def _write(session: Session, changes: list[dict[str, Any]]) -> None:
    """Each row's place and hash: on PostgreSQL one UPDATE for the batch, its values sent as five
    arrays (a statement per row would cost a round trip each); on SQLite, in the same process,
    one executemany."""
    if session.get_bind().dialect.name != "postgresql":
        session.connection().execute(_CHAIN_ROW, changes)
        return
    session.execute(
        _CHAIN_BATCH_POSTGRES,
        {name: [change[name] for change in changes] for name in _CHANGE_FIELDS},
    )


def _take_turn(session: Session, wait: bool) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: the transaction began IMMEDIATE (kit.db), one writer at a time
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAINER_LOCK_KEY})
        return True
    taken = session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _CHAINER_LOCK_KEY}
    )
    return bool(taken)


def unchained_rows(engine: Engine) -> int:
    """How many rows wait to be chained, read outside any transaction (on SQLite a transaction
    here would take the write lock first, kit.db)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT count(*) FROM audit_logs WHERE seq IS NULL")
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def waiting(session: Session) -> tuple[int, datetime | None]:
    """How many rows wait to be chained, and when the oldest of them was written (for /metrics)."""
    count, oldest = session.execute(
        select(func.count(), func.min(AuditLog.created_at)).where(AuditLog.seq.is_(None))
    ).one()
    return int(count or 0), oldest


class Chainer:
    """Chains appended rows in a thread until stopped: looks every IDLE_SECONDS and chains all
    it finds, a batch at a time."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session]) -> None:
        self._engine, self._factory = engine, factory
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-chainer", daemon=True)

    def start(self) -> Chainer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop looking, then chain what is left (the process' last rows, before its last
        anchor)."""
        self._stopping.set()
        self._thread.join(timeout=10)
        try:
            chain_pending(self._factory)
        except Exception as exc:  # stopping must go on; the next chainer to start chains them
            log.error("audit.chaining_failed", error=type(exc).__name__)

    def _run(self) -> None:
        while not self._stopping.wait(IDLE_SECONDS):
            try:
                if unchained_rows(self._engine):
                    chain_pending(self._factory, wait=False)
            except Exception as exc:  # the next look tries again; nothing is lost meanwhile
                log.error("audit.chaining_failed", error=type(exc).__name__)
