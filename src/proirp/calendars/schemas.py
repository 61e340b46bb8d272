"""Request bodies for /calendar."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from proirp.clients.validation import check_timezone


class EventCreate(BaseModel):
    """A new event. `start` and `end` carry an offset, or are wall-clock times read in
    `timeZone` (as Google and Outlook take them)."""

    provider: str = Field(min_length=1, max_length=16)
    title: str = Field(min_length=1, max_length=500)
    # Before start and end: they are read in it.
    time_zone: str | None = Field(default=None, max_length=64, alias="timeZone")
    start: datetime
    end: datetime
    description: str | None = Field(default=None, max_length=8000)
    location: str | None = Field(default=None, max_length=500)
    client_id: str | None = Field(default=None, max_length=32)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
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
