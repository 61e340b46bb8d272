"""reminders: the practice's rules and settings, one reminder per appointment and rule

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder_settings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quiet_hours_start", sa.String(length=5), nullable=False),
        sa.Column("quiet_hours_end", sa.String(length=5), nullable=False),
        sa.Column("grace_minutes", sa.Integer(), nullable=False),
        sa.Column("sms_wording", sa.String(length=320), nullable=False),
        sa.Column("email_subject", sa.String(length=200), nullable=False),
        sa.Column("email_wording", sa.String(length=1000), nullable=False),
        sa.Column("confirmed_reply", sa.String(length=320), nullable=False),
        sa.Column("reschedule_reply", sa.String(length=320), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_settings")),
    )
    with op.batch_alter_table("reminder_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_settings_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "reminder_rules",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("removed_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'email')", name=op.f("ck_reminder_rules_channel")),
        sa.ForeignKeyConstraint(
            ["template_id"], ["templates.id"], name=op.f("fk_reminder_rules_template_id_templates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_rules")),
        sa.UniqueConstraint("key", name=op.f("uq_reminder_rules_key")),
    )
    with op.batch_alter_table("reminder_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_rules_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "reminders",
        sa.Column("appointment_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("due_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("start_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("communication_id", sa.String(length=32), nullable=True),
        sa.Column("queued_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'cancelled', 'expired', 'skipped', 'held')",
            name=op.f("ck_reminders_status"),
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["client_calendar_events.id"],
            name=op.f("fk_reminders_appointment_id_client_calendar_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_reminders_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name=op.f("fk_reminders_communication_id_communications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["reminder_rules.id"], name=op.f("fk_reminders_rule_id_reminder_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("appointment_id", "rule_id", name=op.f("uq_reminders_appointment_id")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminders_client_id_queued_at", ["client_id", "queued_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reminders_communication_id"), ["communication_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reminders_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminders_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index("ix_reminders_status_due_at", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_status_due_at")
        batch_op.drop_index(batch_op.f("ix_reminders_rule_id"))
        batch_op.drop_index(batch_op.f("ix_reminders_created_at"))
        batch_op.drop_index(batch_op.f("ix_reminders_communication_id"))
        batch_op.drop_index("ix_reminders_client_id_queued_at")

    op.drop_table("reminders")
    with op.batch_alter_table("reminder_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_rules_created_at"))

    op.drop_table("reminder_rules")
    with op.batch_alter_table("reminder_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_settings_created_at"))

    op.drop_table("reminder_settings")
