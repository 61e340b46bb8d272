"""Request and response bodies for /clients."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proirp.clients.validation import check_date_of_birth, check_timezone, normalise_email


class ClientFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    # Phones are normalised in the service, where the practice's default region is known.
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    date_of_birth: date | None = None
    timezone: str | None = Field(default=None, max_length=64)
    sms_consent: bool | None = None
    email_consent: bool | None = None
    consent_source: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else None

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, value: date | None) -> date | None:
        return check_date_of_birth(value, today=datetime.now(UTC).date()) if value else None


class ClientCreate(ClientFields):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)


class ClientUpdate(ClientFields):
    pass


class ClientOut(BaseModel):
    id: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    date_of_birth: date | None
    timezone: str
    sms_consent: bool
    sms_consent_at: datetime | None
    email_consent: bool
    email_consent_at: datetime | None
    consent_source: str | None
    sms_consent_source: str | None
    email_consent_source: str | None
    sms_opted_out: bool
    email_suppressed: bool
    created_at: datetime
    updated_at: datetime
