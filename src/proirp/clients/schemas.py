"""Request and response bodies for /clients."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proirp.clients.models import Client
from proirp.clients.validation import check_date_of_birth, normalise_email
from proirp.config.time_zones import check_time_zone
from proirp.kit.input import RequestBody, StoredIn

# An IANA time zone name such as America/Chicago (what zoneinfo knows).
TIME_ZONE: dict[str, Any] = {"format": "time-zone", "examples": ["America/Chicago"]}


FirstName = Annotated[str, StoredIn(Client.first_name)]
LastName = Annotated[str, StoredIn(Client.last_name)]


class ClientFields(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: FirstName | None = Field(default=None, min_length=1)
    last_name: LastName | None = Field(default=None, min_length=1)
    # Phones are normalised in the service (to E.164, at most 16 characters), where the
    # practice's default region is known.
    phone: str | None = Field(default=None, max_length=40)
    email: Annotated[str, StoredIn(Client.email)] | None = None
    date_of_birth: date | None = None
    timezone: Annotated[str, StoredIn(Client.timezone)] | None = Field(
        default=None, json_schema_extra=TIME_ZONE
    )
    # Consent is recorded only from a JSON true or false, never from 1, 0 or "yes".
    sms_consent: bool | None = Field(default=None, strict=True)
    email_consent: bool | None = Field(default=None, strict=True)
    # true: no appointment reminders (other messages still go).
    reminders_opt_out: bool | None = Field(default=None, strict=True)
    # Kept as the source of SMS consent, email consent, or both.
    consent_source: Annotated[str, StoredIn(Client.sms_consent_source)] | None = Field(
        default=None, min_length=1
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_time_zone(value) if value else None

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _dob_is_text(cls, value: object) -> object:
        # A date is YYYY-MM-DD text, as the schema says; not a number of seconds.
        if value is not None and not isinstance(value, str | date):
            raise ValueError("must be a date as YYYY-MM-DD")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, value: date | None) -> date | None:
        return check_date_of_birth(value, today=datetime.now(UTC).date()) if value else None


class ClientCreate(ClientFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "first_name": "Avery",
                    "last_name": "Quinn",
                    "phone": "(202) 555-0143",
                    "timezone": "America/Chicago",
                    "sms_consent": True,
                    "consent_source": "intake form",
                }
            ]
        }
    )

    first_name: FirstName = Field(min_length=1)
    last_name: LastName = Field(min_length=1)


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
    reminders_opt_out: bool
    created_at: datetime
    updated_at: datetime


CLIENT_EXAMPLE: dict[str, Any] = {
    "id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
    "first_name": "Avery",
    "last_name": "Quinn",
    "phone": "+12025550143",
    "email": "avery@example.com",
    "date_of_birth": "1990-04-12",
    "timezone": "America/Chicago",
    "sms_consent": True,
    "sms_consent_at": "2030-01-15T15:00:00Z",
    "email_consent": False,
    "email_consent_at": None,
    "consent_source": "intake form",
    "sms_consent_source": "intake form",
    "email_consent_source": None,
    "sms_opted_out": False,
    "email_suppressed": False,
    "reminders_opt_out": False,
    "created_at": "2030-01-15T15:00:00Z",
    "updated_at": "2030-01-15T15:00:00Z",
}


class ClientAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "client": CLIENT_EXAMPLE}]}
    )

    ok: Literal[True]
    client: ClientOut


class ClientList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ok": True, "clients": [CLIENT_EXAMPLE], "next_cursor": None}]
        }
    )

    ok: Literal[True]
    clients: list[ClientOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
