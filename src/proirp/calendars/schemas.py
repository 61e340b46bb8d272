"""Request bodies for /calendar."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from proirp.clients.validation import check_timezone


class EventCreate(BaseModel):
    provider: str = Field(min_length=1, max_length=16)
    title: str = Field(min_length=1, max_length=500)
    start: AwareDatetime
    end: AwareDatetime
    time_zone: str | None = Field(default=None, max_length=64, alias="timeZone")
    description: str | None = Field(default=None, max_length=8000)
    location: str | None = Field(default=None, max_length=500)
    client_id: str | None = Field(default=None, max_length=32)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("must be after start")
        return value
