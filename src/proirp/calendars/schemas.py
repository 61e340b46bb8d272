"""Request and response bodies for /calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from proirp.clients.schemas import TIME_ZONE
from proirp.config.time_zones import check_time_zone
from proirp.kit.input import YEARS_REFUSED, RequestBody, in_years


class EventCreate(RequestBody):
    """A new event. `start` and `end` carry an offset, or are wall-clock times read in
    `timeZone` (as Google and Outlook take them)."""

    provider: str = Field(min_length=1, max_length=16)
    # Unset: "Appointment", a title that names nobody.
    title: str | None = Field(default=None, min_length=1, max_length=500)
    # Before start and end: they are read in it.
    time_zone: str | None = Field(
        default=None, max_length=64, alias="timeZone", json_schema_extra=TIME_ZONE
    )
    start: datetime
    end: datetime
    description: str | None = Field(default=None, max_length=8000)
    location: str | None = Field(default=None, max_length=500)
    client_id: str | None = Field(default=None, max_length=32)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value is not None and not in_years(value):
            raise ValueError(YEARS_REFUSED)
        if value.tzinfo is not None:
            return value
        zone = info.data.get("time_zone")
        if not zone:
            raise ValueError("needs an offset (e.g. 2026-12-01T09:00:00-06:00) or a timeZone")
        return value.replace(tzinfo=ZoneInfo(zone))

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("must be after start")
        return value


class EventPatch(RequestBody):
    """What to change in an event; fields left out stay as they are. `start` and `end` carry an
    offset, or are wall-clock times read in `timeZone`."""

    time_zone: str | None = Field(
        default=None, max_length=64, alias="timeZone", json_schema_extra=TIME_ZONE
    )
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=8000)
    location: str | None = Field(default=None, max_length=500)
    start: datetime | None = None
    end: datetime | None = None

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"start": "2030-01-16T10:00:00-06:00", "end": "2030-01-16T10:50:00-06:00"}]
        },
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and not in_years(value):
            raise ValueError(YEARS_REFUSED)
        if value is None or value.tzinfo is not None:
            return value
        zone = info.data.get("time_zone")
        if not zone:
            raise ValueError("needs an offset (e.g. 2026-12-01T09:00:00-06:00) or a timeZone")
        return value.replace(tzinfo=ZoneInfo(zone))

    @model_validator(mode="after")
    def _something(self) -> EventPatch:
        if not self.model_fields_set - {"time_zone"}:
            raise ValueError("name at least one of title, description, location, start, end")
        return self


class EventLink(RequestBody):
    client_id: str = Field(min_length=1, max_length=32)

    model_config = ConfigDict(extra="forbid")


# Times in calendar answers are ISO 8601 strings with an offset, as the provider's event gave them.
_WHEN = "2030-01-15T09:00:00-06:00"
_WHEN_END = "2030-01-15T09:50:00-06:00"
_EVENT = {
    "id": "6b8d0f2a4c6e4a1c8e0a2c4e6a8c0e2a",
    "provider": "google",
    "provider_event_id": "example-event-id",
    "title": "Session",
    "start": _WHEN,
    "end": _WHEN_END,
    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class IntegrationOut(BaseModel):
    """A connected calendar; `message` appears when it must be connected again."""

    provider: str
    account_email: str | None
    status: str
    last_synced_at: str | None
    last_error: str | None
    message: str | None = None


class ConnectOutcome(BaseModel):
    provider: str | None
    result: str


class IntegrationList(BaseModel):
    """`outcome` appears when the page was reached from a connection's redirect."""

    model_config = _examples(
        {
            "ok": True,
            "integrations": [
                {
                    "provider": "google",
                    "account_email": "clinician@example.com",
                    "status": "active",
                    "last_synced_at": "2030-01-15T15:00:00+00:00",
                    "last_error": None,
                }
            ],
        }
    )

    ok: Literal[True]
    integrations: list[IntegrationOut]
    outcome: ConnectOutcome | None = None


class Disconnected(BaseModel):
    """`message` says where to remove the app's access when the provider cannot revoke it here."""

    model_config = _examples({"ok": True, "provider": "google", "revoked": True})

    ok: Literal[True]
    provider: str
    revoked: bool
    message: str | None = None


class SyncAccepted(BaseModel):
    model_config = _examples({"ok": True, "provider": "google"})

    ok: Literal[True]
    provider: str


class EventOut(BaseModel):
    id: str
    provider: str
    provider_event_id: str
    title: str | None
    description: str | None
    location: str | None
    start: str
    end: str
    all_day: bool
    status: str
    client_id: str | None


class EventList(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "events": [
                {
                    **_EVENT,
                    "description": None,
                    "location": None,
                    "all_day": False,
                    "status": "confirmed",
                }
            ],
        }
    )

    ok: Literal[True]
    events: list[EventOut]


class CreatedEventOut(BaseModel):
    id: str
    provider: str
    provider_event_id: str
    title: str | None
    start: str
    end: str
    client_id: str | None


class EventAnswer(BaseModel):
    model_config = _examples({"ok": True, "event": _EVENT})

    ok: Literal[True]
    event: CreatedEventOut


class ConnectStarted(BaseModel):
    """Send the user to `authUrl`, signed in with the session cookie."""

    model_config = _examples(
        {"ok": True, "authUrl": "https://accounts.google.com/o/oauth2/v2/auth?state=example"}
    )

    ok: Literal[True]
    authUrl: str  # the published name


class EventUpdated(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "event": {
                **_EVENT,
                "description": None,
                "location": None,
                "all_day": False,
                "status": "confirmed",
            },
        }
    )

    ok: Literal[True]
    event: EventOut


class EventDeleted(BaseModel):
    model_config = _examples({"ok": True, "event": {"id": _EVENT["id"], "status": "cancelled"}})

    ok: Literal[True]
    event: dict[str, str]


class LinkOut(BaseModel):
    """An appointment as a link answers it."""

    id: str
    event_id: str | None
    provider: str
    client_id: str
    start: str | None
    end: str | None
    state: str


class LinkAnswer(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "appointment": {
                "id": "3f1e5c7a9b2d4f6e8a0c2e4a6c8e0a2c",
                "event_id": _EVENT["id"],
                "provider": "google",
                "client_id": _EVENT["client_id"],
                "start": _WHEN,
                "end": _WHEN_END,
                "state": "scheduled",
            },
        }
    )

    ok: Literal[True]
    appointment: LinkOut


class SyncStatusOut(BaseModel):
    """`status`: ok | syncing | error | needs_reauth; `last_error` in plain words;
    `next_attempt_at`: when a calendar backing off after errors is tried again."""

    provider: str
    account_email: str | None
    status: Literal["ok", "syncing", "error", "needs_reauth"]
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    next_attempt_at: str | None
    events_cached: int
    message: str | None = None


class SyncStatusList(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "integrations": [
                {
                    "provider": "google",
                    "account_email": "clinician@example.com",
                    "status": "ok",
                    "last_success_at": "2030-01-15T15:00:00+00:00",
                    "last_error": None,
                    "last_error_at": None,
                    "next_attempt_at": None,
                    "events_cached": 42,
                }
            ],
        }
    )

    ok: Literal[True]
    integrations: list[SyncStatusOut]
