"""audit log: a chain signed with a key, and rows only ever added above the newest

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

An audit log written before this revision is chained with plain SHA-256, which anyone who can
write to the database can recompute. Its chain is checked first (a broken one stops the upgrade,
changing nothing); then every row is signed again, in order, with the current chain key, and one
AUDIT_CHAIN_RESIGNED row records how many rows were signed again and the old chain's last hash.
"""

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

import proirp.kit.time
from proirp.audit.chain import canonical_row, row_hash
from proirp.audit.keys import ChainKey, ChainKeyring
from proirp.kit.time import utcnow

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
BATCH = 1000
CONTENT = ("created_at", "actor_user_id", "action", "client_id", "ip", "user_agent", "details")

audit_logs = sa.table(
    "audit_logs",
    sa.column("id", sa.BigInteger()),
    sa.column("created_at", proirp.kit.time.UTCDateTime()),
    sa.column("actor_user_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("client_id", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("user_agent", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
keyed_audit_logs = sa.table(
    "audit_logs",
    *[sa.column(c.name, c.type) for c in audit_logs.c],
    sa.column("key_id", sa.String()),
)


class AuditChainUpgradeError(RuntimeError):
    """The audit log cannot be moved to the keyed chain; nothing was changed."""


def upgrade() -> None:
    legacy = _check_legacy_chain()
    key = _chain_key() if legacy.rows else None
    _drop_change_guards()
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    if key is not None:
        _resign(key)
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.alter_column("key_id", existing_type=sa.String(length=16), nullable=False)
    _refuse_changes()
    _refuse_inserts_below_the_newest()
    if key is not None:
        _record_resigning(key, legacy)


def downgrade() -> None:
    # Back to plain SHA-256 over the same rows (the earlier release verifies nothing else), once
    # the keyed chain is checked: a tampered log is not vouched for by hashing it again.
    _check_keyed_chain()
    _drop_insert_guards()
    _drop_change_guards()
    prev_hash = GENESIS_HASH
    for row in _rows():
        new_hash = _sha256_hash(prev_hash, row)
        op.execute(
            audit_logs.update()
            .where(audit_logs.c.id == row.id)
            .values(prev_hash=prev_hash, hash=new_hash)
        )
        prev_hash = new_hash
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.drop_column("key_id")
    _refuse_changes()


class _Legacy:
    def __init__(self) -> None:
        self.rows = 0
        self.head_hash = GENESIS_HASH


def _check_legacy_chain() -> _Legacy:
    """Walk the SHA-256 chain as the earlier release did; refuse to go on if it is broken."""
    legacy = _Legacy()
    for row in _rows():
        if row.prev_hash != legacy.head_hash:
            _refuse(row.id, "does not follow the row before it (removed, inserted or reordered)")
        if _sha256_hash(row.prev_hash, row) != row.hash:
            _refuse(row.id, "content does not match its hash (edited)")
        legacy.rows += 1
        legacy.head_hash = row.hash
    return legacy


def _refuse(row_id: int, problem: str) -> None:
    raise AuditChainUpgradeError(
        f"the audit log's hash chain is broken at row {row_id}: {problem}. Nothing was changed: "
        "the chain is only signed or hashed again while it holds, so that doing so never vouches "
        "for a tampered log. Find out what happened to that row first."
    )


def _chain_keyring() -> ChainKeyring:
    keyring = context.config.attributes.get("audit_chain_keyring")
    if not isinstance(keyring, ChainKeyring):
        raise AuditChainUpgradeError(
            "the audit log has rows signed or to be signed with the audit chain key, and no key "
            "was given: run `proirp db upgrade` or `downgrade`, which read AUDIT_CHAIN_KEYS"
        )
    return keyring


def _chain_key() -> ChainKey:
    return _chain_keyring().current


def _check_keyed_chain() -> None:
    rows = _rows(keyed_audit_logs)
    first = next(rows, None)
    if first is None:
        return
    keyring, prev_hash = _chain_keyring(), GENESIS_HASH
    for row in [first, *rows]:
        key = keyring.get(row.key_id)
        if row.prev_hash != prev_hash:
            _refuse(row.id, "does not follow the row before it (removed, inserted or reordered)")
        if key is None or row_hash(key, prev_hash, _content(row)) != row.hash:
            _refuse(row.id, "content does not match its hash under the chain keys (edited)")
        prev_hash = row.hash


def _rows(table: sa.TableClause = audit_logs) -> Iterator[Any]:
    """Every audit row, oldest first, a batch at a time (changing rows meanwhile is safe)."""
    last = None
    while True:
        query = sa.select(table).order_by(table.c.id).limit(BATCH)
        if last is not None:
            query = query.where(table.c.id > last)
        batch = op.get_bind().execute(query).all()
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1].id


def _content(row: Any) -> str:
    return canonical_row(**{name: getattr(row, name) for name in CONTENT})


def _sha256_hash(prev_hash: str, row: Any) -> str:
    """The chain as it was before this revision."""
    return hashlib.sha256((prev_hash + _content(row)).encode()).hexdigest()


def _resign(key: ChainKey) -> None:
    table, prev_hash = keyed_audit_logs, GENESIS_HASH
    for row in _rows():
        new_hash = row_hash(key, prev_hash, _content(row))
        op.execute(
            table.update()
            .where(table.c.id == row.id)
            .values(prev_hash=prev_hash, hash=new_hash, key_id=key.key_id)
        )
        prev_hash = new_hash


def _record_resigning(key: ChainKey, legacy: _Legacy) -> None:
    table = keyed_audit_logs
    head = op.get_bind().execute(sa.select(table.c.hash).order_by(table.c.id.desc()).limit(1))
    prev_hash = head.scalar_one()
    content: dict[str, Any] = {
        "created_at": utcnow(),
        "actor_user_id": None,
        "action": "AUDIT_CHAIN_RESIGNED",
        "client_id": None,
        "ip": None,
        "user_agent": None,
        "details": {"rows": legacy.rows, "sha256_head": legacy.head_hash},
    }
    new_hash = row_hash(key, prev_hash, canonical_row(**content))
    op.execute(
        table.insert().values(**content, key_id=key.key_id, prev_hash=prev_hash, hash=new_hash)
    )


def _refuse_changes() -> None:
    """The audit log is append-only: the database itself refuses UPDATE, DELETE and TRUNCATE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_logs_no_{operation.lower()} BEFORE {operation} ON audit_logs "
            f"BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: {operation} refused'); END"
        )


def _drop_change_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_delete")


def _refuse_inserts_below_the_newest() -> None:
    """An INSERT may only add a row above the newest: never in a gap, never over a row.

    On SQLite, INSERT OR REPLACE (and REPLACE, and an UPSERT) deletes the row in its way without
    firing DELETE triggers; refusing an insert whose id or hash is taken closes that door. On
    PostgreSQL, ON CONFLICT DO UPDATE already meets the UPDATE trigger; this refuses the rest.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_logs_refuse_insert_below() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id <= (SELECT max(id) FROM audit_logs) THEN
                    RAISE EXCEPTION
                        'audit_logs is append-only: INSERT at or below the newest row refused'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_logs_insert_above_newest BEFORE INSERT ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_insert_below()"
        )
        return
    # SQLite: NEW.id is not known before an INSERT that lets the database choose it, so a row
    # in the way is refused before, and a row below the newest after (ABORT undoes it).
    op.execute(
        "CREATE TRIGGER audit_logs_no_insert_over BEFORE INSERT ON audit_logs "
        "WHEN EXISTS (SELECT 1 FROM audit_logs WHERE id = NEW.id) "
        "OR EXISTS (SELECT 1 FROM audit_logs WHERE hash = NEW.hash) "
        "BEGIN SELECT RAISE(ABORT, "
        "'audit_logs is append-only: INSERT over an existing row refused'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_insert_below AFTER INSERT ON audit_logs "
        "WHEN NEW.id < (SELECT max(id) FROM audit_logs) "
        "BEGIN SELECT RAISE(ABORT, "
        "'audit_logs is append-only: INSERT below the newest row refused'); END"
    )


def _drop_insert_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_insert_above_newest ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_insert_below()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_insert_over")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_insert_below")
