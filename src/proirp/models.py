"""Every table, imported in one place so Alembic and the app see the whole data model."""

from sqlalchemy import Index

from proirp.appointments.models import Reminder, ReminderRule, ReminderSettings
from proirp.audit.models import AuditLog
from proirp.auth.mfa_models import LoginChallenge, RecoveryCode, SecondFactor
from proirp.auth.models import ApiToken, LoginCounter, User
from proirp.auth.reset_links import PasswordResetLink
from proirp.calendars.models import (
    CalendarIntegration,
    CalendarSyncStatus,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.clients.access_models import BreakGlassGrant, CareTeamMember
from proirp.clients.models import Client, OptOut
from proirp.comms.inbox.models import (
    AutoReplyMark,
    InboxSettings,
    MessageMedia,
    MessageRead,
    UrgentIncident,
)
from proirp.comms.models import (
    Campaign,
    Communication,
    CommunicationEvent,
    PaceSlot,
    Template,
)
from proirp.kit.db import Base
from proirp.notices.models import StaffNotice

# The audit trail's filters, each with the trail's newest-first order (migration 0022).
AUDIT_LOG_INDEXES = (
    Index("ix_audit_logs_actor_user_id_id", AuditLog.actor_user_id, AuditLog.id),
    Index("ix_audit_logs_client_id_id", AuditLog.client_id, AuditLog.id),
    Index("ix_audit_logs_action_id", AuditLog.action, AuditLog.id),
)

__all__ = [
    "ApiToken",
    "AuditLog",
    "AutoReplyMark",
    "Base",
    "BreakGlassGrant",
    "CalendarIntegration",
    "CalendarSyncStatus",
    "Campaign",
    "CareTeamMember",
    "Client",
    "ClientCalendarEvent",
    "Communication",
    "CommunicationEvent",
    "InboxSettings",
    "LoginChallenge",
    "LoginCounter",
    "MessageMedia",
    "MessageRead",
    "OptOut",
    "PaceSlot",
    "PasswordResetLink",
    "RecoveryCode",
    "Reminder",
    "ReminderRule",
    "ReminderSettings",
    "SecondFactor",
    "StaffNotice",
    "SyncedCalendarEvent",
    "Template",
    "UrgentIncident",
    "User",
]
