"""appointments: their state, reminders turned off per appointment or per client, sync backoff

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'scheduled', 'confirmed', 'moved', 'needs_attention', 'cancelled'"
ACTIVE_LINK = "gone_at IS NULL AND unlinked_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("calendar_sync_status", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("syncing_since", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("retry_after", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("client_calendar_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), server_default="scheduled", nullable=False)
        )
        batch_op.add_column(
            sa.Column("state_changed_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminders_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("unlinked_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(
            op.f("ck_client_calendar_events_state"), f"state IN ({STATES})"
        )
    # An appointment whose event has gone was cancelled.
    op.execute("UPDATE client_calendar_events SET state = 'cancelled' WHERE gone_at IS NOT NULL")
    # One active appointment per event. Earlier releases could link an event twice: keep the
    # newest of each, and mark the others unlinked.
    op.execute(
        "UPDATE client_calendar_events SET unlinked_at = updated_at WHERE gone_at IS NULL"
        " AND EXISTS (SELECT 1 FROM client_calendar_events newer"
        " WHERE newer.integration_id = client_calendar_events.integration_id"
        " AND newer.provider_event_id = client_calendar_events.provider_event_id"
        " AND newer.gone_at IS NULL AND newer.id > client_calendar_events.id)"
    )
    op.create_index(
        "uq_client_calendar_events_active_event",
        "client_calendar_events",
        ["integration_id", "provider_event_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_LINK),
        postgresql_where=sa.text(ACTIVE_LINK),
    )

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminders_opt_out", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("reminders_opt_out")

    op.drop_index("uq_client_calendar_events_active_event", table_name="client_calendar_events")
    with op.batch_alter_table("client_calendar_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_client_calendar_events_state"), type_="check")
        batch_op.drop_column("unlinked_at")
        batch_op.drop_column("reminders_enabled")
        batch_op.drop_column("state_changed_at")
        batch_op.drop_column("state")

    with op.batch_alter_table("calendar_sync_status", schema=None) as batch_op:
        batch_op.drop_column("retry_after")
        batch_op.drop_column("failures")
        batch_op.drop_column("syncing_since")
