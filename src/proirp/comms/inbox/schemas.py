"""Request and response bodies of the inbox's routes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from proirp.clients.phi import find_phi
from proirp.comms.inbox.models import InboxSettings
from proirp.comms.inbox.practice import DAYS
from proirp.comms.schemas import CommOut
from proirp.config.rules import time_zone
from proirp.kit.input import RequestBody, StoredIn

_WHEN = "2030-01-15T15:00:00Z"
_CLIENT = "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f"
MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "3e7a1c9b5d2f4e8a9c0b1d2e3f4a5b6c",
    "client_id": _CLIENT,
    "user_id": None,
    "campaign_id": None,
    "direction": "inbound",
    "purpose": None,
    "type": "sms",
    "to": "+15005550006",
    "from": "+12025550143",
    "status": "received",
    "status_reason": None,
    "provider": "twilio",
    "provider_message_id": "SM0123456789abcdef0123456789abcdef",
    "error_code": None,
    "segments": 1,
    "created_at": _WHEN,
    "send_at": None,
    "sent_at": _WHEN,
    "delivered_at": _WHEN,
    "subject": None,
    "body": "Running ten minutes late, sorry!",
    "media": [],
    "read": False,
}
SETTINGS_EXAMPLE: dict[str, Any] = {
    "timezone": "America/New_York",
    "office_hours": {day: {"start": "09:00", "end": "17:00"} for day in DAYS[:5]},
    "safety_reply": "If you are in danger or thinking about suicide, call or text 988, or "
    "call 911. Our staff will read your message.",
    "after_hours_reply": "Thank you for your message. Our office is closed now.",
    "urgent_phrases": ["give up on everything"],
    "on_call_email": "on-call@example.com",
    "realert_minutes": 15,
    "realert_limit": 8,
}


def _examples(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
MAX_PHRASES = 200


class MediaOut(BaseModel):
    id: str
    content_type: str
    size: int | None = Field(description="Bytes; null until fetched.")
    state: Literal["pending", "fetched", "failed"]
    failed_reason: str | None


class MessageOut(CommOut):
    """A message in a thread: the communication, its text, and for an inbound one its media
    and whether the caller has read it."""

    subject: str | None
    body: str
    media: list[MediaOut]
    read: bool | None = Field(
        description="An inbound message: whether you have read it; null for outbound."
    )


class ThreadAnswer(BaseModel):
    model_config = _examples({"ok": True, "messages": [MESSAGE_EXAMPLE], "next_cursor": None})

    ok: Literal[True]
    messages: list[MessageOut] = Field(description="Oldest to newest.")
    next_cursor: str | None = Field(description="Leads to earlier messages.")


class ConversationOut(BaseModel):
    client_id: str | None = Field(description="Null for a number no single client matches.")
    number: str | None = Field(description="For a conversation without a client: the number.")
    candidates: list[str] = Field(
        description="For a conversation without a client: the clients with that number "
        "(several: a family sharing a phone; none: nobody known)."
    )
    urgent: bool = Field(description="Urgent language in it, and nobody has opened it since.")
    unread: int = Field(description="Inbound messages you have not read.")
    last_inbound_at: datetime


class InboxAnswer(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "conversations": [
                {
                    "client_id": _CLIENT,
                    "number": None,
                    "candidates": [],
                    "urgent": True,
                    "unread": 2,
                    "last_inbound_at": _WHEN,
                }
            ],
            "next_cursor": None,
        }
    )

    ok: Literal[True]
    conversations: list[ConversationOut] = Field(
        description="Urgent first, then those with unread messages, then the most recent."
    )
    next_cursor: str | None


class UnmatchedOut(BaseModel):
    id: str
    number: str
    to: str
    created_at: datetime
    candidates: list[str]
    media: int


class UnmatchedAnswer(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "messages": [
                {
                    "id": "3e7a1c9b5d2f4e8a9c0b1d2e3f4a5b6c",
                    "number": "+12025550143",
                    "to": "+15005550006",
                    "created_at": _WHEN,
                    "candidates": [_CLIENT, "7b1d4a6e8f3c5b7d9e1a2c4f0c9a4e2f"],
                    "media": 0,
                }
            ],
            "next_cursor": None,
        }
    )

    ok: Literal[True]
    messages: list[UnmatchedOut]
    next_cursor: str | None


class ReadAnswer(BaseModel):
    model_config = _examples({"ok": True, "read": 3})

    ok: Literal[True]
    read: int = Field(description="How many inbound messages this marked read for you.")


class AttachIn(RequestBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"client_id": _CLIENT, "all_from_number": False}]},
    )

    client_id: str = Field(max_length=32)
    all_from_number: bool = Field(
        default=False,
        strict=True,
        description="Also attach every other unattached message from the same number.",
    )


class AttachAnswer(BaseModel):
    model_config = _examples({"ok": True, "attached": ["3e7a1c9b5d2f4e8a9c0b1d2e3f4a5b6c"]})

    ok: Literal[True]
    attached: list[str] = Field(description="The ids of the messages attached.")


class OfficeHoursDay(RequestBody):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(max_length=5, description="HH:MM in the practice's time zone")
    end: str = Field(max_length=5, description="HH:MM, after start")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not CLOCK.match(value):
            raise ValueError("must be HH:MM (00:00 to 23:59)")
        return value

    @model_validator(mode="after")
    def _in_order(self) -> OfficeHoursDay:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class OfficeHours(RequestBody):
    """Each day's opening hours in the practice's time zone; a day left out (or null) is closed."""

    model_config = ConfigDict(extra="forbid")

    mon: OfficeHoursDay | None = None
    tue: OfficeHoursDay | None = None
    wed: OfficeHoursDay | None = None
    thu: OfficeHoursDay | None = None
    fri: OfficeHoursDay | None = None
    sat: OfficeHoursDay | None = None
    sun: OfficeHoursDay | None = None


Phrase = Annotated[str, Field(min_length=2, max_length=100)]


# What an after-hours reply says of the office: when it opens and where it is; and the name of
# the crisis line it may point to.
_OFFICE_WORDS = {"an appointment time", "a date", "a location", "an address"}
_CRISIS_LINE = re.compile(r"suicide\s*(?:&|and)\s*crisis\s+lifeline", re.IGNORECASE)
# A template's placeholders ({{ name }}, {% if %}) and the reminders' wording's ({when}).
_PLACEHOLDER = re.compile(r"\{\{|\{%|\}\}|%\}|\{\s*\w+\s*\}")


class InboxSettingsIn(RequestBody):
    """Fields left out (or null) keep their current value; a null `on_call_email` clears it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SETTINGS_EXAMPLE]})

    timezone: Annotated[str, StoredIn(InboxSettings.timezone)] | None = None
    office_hours: OfficeHours | None = None
    safety_reply: Annotated[str, StoredIn(InboxSettings.safety_reply)] | None = Field(
        default=None, min_length=1
    )
    after_hours_reply: Annotated[str, StoredIn(InboxSettings.after_hours_reply)] | None = Field(
        default=None, min_length=1
    )
    urgent_phrases: list[Phrase] | None = Field(
        default=None,
        max_length=MAX_PHRASES,
        description="Added to the product's own list; matched on whole words, whatever the "
        "case and accents.",
    )
    on_call_email: Annotated[str, StoredIn(InboxSettings.on_call_email)] | None = None
    realert_minutes: int | None = Field(default=None, strict=True, ge=5, le=240)
    realert_limit: int | None = Field(default=None, strict=True, ge=1, le=100)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return time_zone(value)

    @field_validator("safety_reply", "after_hours_reply")
    @classmethod
    def _as_written(cls, value: str | None) -> str | None:
        """Each goes, as it is written, to whoever texts the number (a client, or a number
        nobody matched): no placeholder is filled in, and the after-hours one names nothing
        clinical (office hours, a time and an address are what it says; the safety reply
        speaks of a crisis on purpose)."""
        if value is not None and _PLACEHOLDER.search(value):
            raise ValueError("is sent as it is written, so may hold no placeholder")
        return value

    @field_validator("after_hours_reply")
    @classmethod
    def _nothing_clinical(cls, value: str | None) -> str | None:
        text = _CRISIS_LINE.sub("", value or "")
        found = [kind for kind in find_phi(text) if kind not in _OFFICE_WORDS]
        if found:
            raise ValueError(
                "goes to whoever texts the number, so may not hold " + ", ".join(found)
            )
        return value


class InboxSettingsOut(BaseModel):
    timezone: str
    office_hours: dict[str, dict[str, str]]
    safety_reply: str
    after_hours_reply: str
    urgent_phrases: list[str] = Field(description="The practice's own, beyond the product's.")
    on_call_email: str | None
    realert_minutes: int
    realert_limit: int


class InboxSettingsAnswer(BaseModel):
    model_config = _examples({"ok": True, "settings": SETTINGS_EXAMPLE})

    ok: Literal[True]
    settings: InboxSettingsOut
