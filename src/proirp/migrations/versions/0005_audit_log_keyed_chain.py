"""audit log: rows are only ever added above the newest

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _refuse_inserts_below_the_newest()


def downgrade() -> None:
    _drop_insert_guards()


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
                    RAISE EXCEPTION 'audit_logs is append-only: INSERT at or below the newest row refused'
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
        "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: INSERT over an existing row refused'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_insert_below AFTER INSERT ON audit_logs "
        "WHEN NEW.id < (SELECT max(id) FROM audit_logs) "
        "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: INSERT below the newest row refused'); END"
    )


def _drop_insert_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_insert_above_newest ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_refuse_insert_below()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_insert_over")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_insert_below")
