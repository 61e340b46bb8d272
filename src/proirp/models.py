"""Every table, imported in one place so Alembic and the app see the whole data model."""

import proirp.comms.inbox.tallies  # noqa: F401  (its listeners keep the inbox's rows)
from proirp.appointments.models import Reminder, ReminderRule, ReminderSettings
from proirp.audit.models import AuditLog
from proirp.auth.mfa_models import LoginChallenge, RecoveryCode, SecondFactor
from proirp.auth.models import ApiToken, LoginCounter, User
from proirp.auth.reset_links import PasswordResetLink
from proirp.calendars.models import (
    CalendarIntegration,
    CalendarPushChannel,
    CalendarSyncStatus,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.clients.access_models import BreakGlassGrant, CareTeamMember
from proirp.clients.models import Client, OptOut
from proirp.comms.inbox.models import (
    AutoReplyMark,
    ConversationRead,
    InboxConversation,
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
    StatusIntake,
    Template,
)
from proirp.kit.db import Base
from proirp.notices.models import StaffNotice

__all__ = [
    "ApiToken",
    "AuditLog",
    "AutoReplyMark",
    "Base",
    "BreakGlassGrant",
    "CalendarIntegration",
    "CalendarPushChannel",
    "CalendarSyncStatus",
    "Campaign",
    "CareTeamMember",
    "Client",
    "ClientCalendarEvent",
    "Communication",
    "CommunicationEvent",
    "ConversationRead",
    "InboxConversation",
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
    "StatusIntake",
    "SyncedCalendarEvent",
    "Template",
    "UrgentIncident",
    "User",
]
