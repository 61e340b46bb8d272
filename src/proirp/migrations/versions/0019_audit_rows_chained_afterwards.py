"""audit rows appended unchained and chained afterwards, in the order given by `seq`

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

Rows already in the log keep their hashes and get `seq` = `id`: that is the order they were
chained in, so the anchors already written (which name a row by its place) still hold. From
here on a row is inserted without `seq` or a hash, and the chainer fills in both; the database
allows that one change of a row and no other.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAIN_COLUMNS = (("key_id", 16), ("prev_hash", 64), ("hash", 64))
# The columns a row's hash covers, which no change may touch (SQLite compares them with IS).
CONTENT = (
    "id",
    "created_at",
    "actor_user_id",
    "action",
    "client_id",
    "ip",
    "user_agent",
    "details",
)


class AuditChainDowngradeError(RuntimeError):
    """The log cannot go back to being chained in the order of `id`; nothing was changed."""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_guards(postgres)
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        for name, length in CHAIN_COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=True)
    op.execute("UPDATE audit_logs SET seq = id")
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.create_unique_constraint(op.f("uq_audit_logs_seq"), ["seq"])
        batch_op.create_index(
            "ix_audit_logs_unchained",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    _guard(postgres)


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    unchained = bind.execute(sa.text("SELECT count(*) FROM audit_logs WHERE seq IS NULL")).scalar()
    if unchained:
        raise AuditChainDowngradeError(
            f"{unchained} audit rows are not chained yet: run `proirp audit chain` first"
        )
    out_of_order = bind.execute(
        sa.text(
            "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id) AS before "
            "FROM audit_logs) AS walked WHERE before > seq"
        )
    ).scalar()
    if out_of_order:
        raise AuditChainDowngradeError(
            "some audit rows were chained in another order than their ids; the earlier release "
            "would report them as reordered"
        )
    _drop_guards(postgres)
    with op.batch_alter_table("audit_logs") as batch_op:
        batch_op.drop_index("ix_audit_logs_unchained")
        batch_op.drop_constraint(op.f("uq_audit_logs_seq"), type_="unique")
        batch_op.drop_column("seq")
        for name, length in CHAIN_COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=False)
    _guard_as_before(postgres)


def _guard(postgres: bool) -> None:
    """No DELETE, no TRUNCATE, no UPDATE but chaining a row; an INSERT adds an unchained row."""
    unchanged = " AND ".join(
        f"NEW.{c}::text IS NOT DISTINCT FROM OLD.{c}::text" if postgres else f"NEW.{c} IS OLD.{c}"
        for c in CONTENT
    )
    chaining = (
        "OLD.seq IS NULL AND OLD.hash IS NULL AND NEW.seq IS NOT NULL "
        f"AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.key_id IS NOT NULL "
        f"AND {unchanged}"
    )
    unchained = "NEW.seq IS NULL AND NEW.hash IS NULL AND NEW.prev_hash IS NULL"
    if postgres:
        op.execute(
            f"""
            CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND ({chaining}) THEN
                    RETURN NEW;
                END IF;
                IF TG_OP = 'INSERT' AND ({unchained}) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_logs_append_only BEFORE INSERT OR UPDATE OR DELETE "
            "ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        f"WHEN NOT ({chaining}) "
        "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
        "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END"
    )
    # INSERT OR REPLACE deletes the row in its way without firing DELETE triggers: an insert
    # over an existing row is refused, and so is one that arrives already chained.
    insert_over = (
        "WHEN EXISTS (SELECT 1 FROM audit_logs WHERE id = NEW.id) OR NOT (" + unchained + ")"  # noqa: S608
    )
    op.execute(
        f"CREATE TRIGGER audit_logs_no_insert_over BEFORE INSERT ON audit_logs {insert_over} "
        "BEGIN SELECT RAISE(ABORT, "
        "'audit_logs is append-only: INSERT of a chained row or over a row refused'); END"
    )


def _drop_guards(postgres: bool) -> None:
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_insert_above_newest ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_change()")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_insert_below()")
        return
    for trigger in ("no_update", "no_delete", "no_insert_over", "no_insert_below"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_logs_{trigger}")


def _guard_as_before(postgres: bool) -> None:
    """Revision 0005's guards: no UPDATE, DELETE or TRUNCATE; inserts only above the newest."""
    if postgres:
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
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_logs_no_{operation.lower()} BEFORE {operation} ON audit_logs "
            f"BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: {operation} refused'); END"
        )
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
