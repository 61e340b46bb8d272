"""Request and answer bodies: reminder rules and settings, appointments and their reminders."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proirp.appointments.models import ReminderRule, ReminderSettings
from proirp.kit.input import RequestBody, StoredIn

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
MAX_OFFSET_MINUTES = 14 * 24 * 60  # two weeks
MAX_RULES = 10
MIN_GRACE_MINUTES = 5


class RuleIn(RequestBody):
    """One reminder rule: how long before the start, on which channel, with which template."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StoredIn(ReminderRule.key)] | None = Field(
        default=None, description="Stable name of the rule; `<channel>-<offset>m` if left out."
    )
    offset_minutes: int = Field(strict=True, ge=5, le=MAX_OFFSET_MINUTES)
    channel: Literal["sms", "email"]
    template_id: Annotated[str, StoredIn(ReminderRule.id)] | None = None
    enabled: bool = Field(default=True, strict=True)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not KEY.fullmatch(value):
            raise ValueError("must be lower-case letters, digits, - and _")
        return value


class SettingsIn(RequestBody):
    """The practice's reminder settings; each left out keeps its current value."""

    model_config = ConfigDict(extra="forbid")

    quiet_hours_start: str | None = Field(
        default=None, max_length=5, description="HH:MM, client-local"
    )
    quiet_hours_end: str | None = Field(
        default=None, max_length=5, description="HH:MM, client-local"
    )
    # At least MIN_GRACE_MINUTES: a reminder is claimed by a job that runs every minute, so a
    # shorter grace would expire reminders that are merely waiting for their run.
    grace_minutes: int | None = Field(default=None, strict=True, ge=MIN_GRACE_MINUTES, le=24 * 60)
    sms_wording: Annotated[str, StoredIn(ReminderSettings.sms_wording)] | None = Field(
        default=None, min_length=1
    )
    email_subject: Annotated[str, StoredIn(ReminderSettings.email_subject)] | None = Field(
        default=None, min_length=1
    )
    email_wording: Annotated[str, StoredIn(ReminderSettings.email_wording)] | None = Field(
        default=None, min_length=1
    )
    confirmed_reply: Annotated[str, StoredIn(ReminderSettings.confirmed_reply)] | None = Field(
        default=None, min_length=1
    )
    reschedule_reply: Annotated[str, StoredIn(ReminderSettings.reschedule_reply)] | None = Field(
        default=None, min_length=1
    )

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not CLOCK_TIME.fullmatch(value):
            raise ValueError("must be a time of day as HH:MM, e.g. 21:00")
        return value


class RulesPut(RequestBody):
    """The whole set of rules (a rule left out is removed), and optionally the settings."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(max_length=MAX_RULES)
    settings: SettingsIn | None = None


class RuleOut(BaseModel):
    id: str | None = Field(description="Null for a default rule not yet saved.")
    key: str
    offset_minutes: int
    channel: str
    template_id: str | None
    enabled: bool


class SettingsOut(BaseModel):
    quiet_hours_start: str
    quiet_hours_end: str
    grace_minutes: int
    sms_wording: str
    email_subject: str
    email_wording: str
    confirmed_reply: str
    reschedule_reply: str
    daily_cap: int = Field(description="SMS reminders a client gets per client-local day.")
    weekly_cap: int = Field(description="SMS reminders a client gets per rolling 7 days.")


RULES_EXAMPLE: dict[str, Any] = {
    "ok": True,
    "rules": [
        {
            "id": "5b0c2f0e0a9d4c7e8f1a2b3c4d5e6f70",
            "key": "sms-1440m",
            "offset_minutes": 1440,
            "channel": "sms",
            "template_id": None,
            "enabled": True,
        }
    ],
    "settings": {
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "grace_minutes": 60,
        "sms_wording": "You have an appointment {when}. Reply C to confirm or R to reschedule.",
        "email_subject": "Appointment reminder",
        "email_wording": "You have an appointment {when}.",
        "confirmed_reply": "Thank you: your appointment is confirmed.",
        "reschedule_reply": "Thank you: the office will contact you to find a new time.",
        "daily_cap": 1,
        "weekly_cap": 3,
    },
}
APPOINTMENT_EXAMPLE: dict[str, Any] = {
    "id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "event_id": "7c6b5a4938271605f4e3d2c1b0a99887",
    "provider": "google",
    "provider_event_id": "evt_123",
    "client_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "start": "2030-01-15T15:00:00Z",
    "end": "2030-01-15T15:50:00Z",
    "state": "scheduled",
    "reminders_enabled": True,
    "reminders": [
        {
            "id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "rule": "sms-1440m",
            "channel": "sms",
            "due_at": "2030-01-14T15:00:00Z",
            "status": "pending",
            "reason": None,
            "communication_id": None,
        }
    ],
}


class RulesAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RULES_EXAMPLE]})

    ok: bool = True
    rules: list[RuleOut]
    settings: SettingsOut


class ReminderOut(BaseModel):
    id: str
    rule: str = Field(description="The rule's key.")
    channel: str
    due_at: datetime
    status: str
    reason: str | None
    communication_id: str | None


class AppointmentOut(BaseModel):
    id: str
    event_id: str | None = Field(
        description=(
            "Our cached calendar event's id (as GET /calendar/events/{id} takes it); "
            "null once the event is gone from the calendar."
        )
    )
    provider: str
    provider_event_id: str = Field(description="The event's id at the provider.")
    client_id: str
    start: datetime | None
    end: datetime | None
    state: str
    reminders_enabled: bool
    reminders: list[ReminderOut]


class AppointmentList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "appointments": [APPOINTMENT_EXAMPLE]}]}
    )

    ok: bool = True
    appointments: list[AppointmentOut]


class AppointmentAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "appointment": APPOINTMENT_EXAMPLE}]}
    )

    ok: bool = True
    appointment: AppointmentOut


class AppointmentPatch(RequestBody):
    """What staff may change: reminders on or off; the state confirmed or scheduled (which
    also clears needs_attention)."""

    model_config = ConfigDict(extra="forbid")

    reminders_enabled: bool | None = Field(default=None, strict=True)
    state: Literal["confirmed", "scheduled"] | None = None
