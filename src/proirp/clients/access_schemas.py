"""Request and response bodies for a client's care team and for break-glass access."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from proirp.kit.input import RequestBody

RecordId = Annotated[str, StringConstraints(min_length=1, max_length=32)]

BREAK_GLASS_MAX_MINUTES = 240
BREAK_GLASS_DEFAULT_MINUTES = 60
REASON_MAX_LENGTH = 500


class CareTeamPut(RequestBody):
    """The whole care team: the clinicians who may see and message the client."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_ids": ["5b1e0c2d9a7f4e3b8c6d1a2f3e4b5c6d"]}]},
    )

    user_ids: list[RecordId] = Field(max_length=50)


class CareTeamMemberOut(BaseModel):
    user_id: str
    email: str
    role: str
    assigned_by_user_id: str | None
    assigned_at: datetime


MEMBER_EXAMPLE: dict[str, Any] = {
    "user_id": "5b1e0c2d9a7f4e3b8c6d1a2f3e4b5c6d",
    "email": "dr.lee@clinic.example.com",
    "role": "clinician",
    "assigned_by_user_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "assigned_at": "2030-01-15T15:00:00Z",
}


class CareTeamAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
                    "care_team": [MEMBER_EXAMPLE],
                }
            ]
        }
    )

    ok: Literal[True]
    client_id: str
    care_team: list[CareTeamMemberOut]


class BreakGlassOpen(RequestBody):
    """Emergency access to one client outside the caller's care team, for a stated reason."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
                    "reason": "Covering for the on-call clinician: the client called in crisis",
                    "minutes": 60,
                }
            ]
        },
    )

    client_id: RecordId
    reason: str = Field(min_length=10, max_length=REASON_MAX_LENGTH)
    minutes: int = Field(
        default=BREAK_GLASS_DEFAULT_MINUTES, ge=5, le=BREAK_GLASS_MAX_MINUTES, strict=True
    )


class BreakGlassOut(BaseModel):
    id: str
    user_id: str
    client_id: str
    opened_at: datetime
    expires_at: datetime
    active: bool
    reason: str | None = Field(description="Shown to admins reviewing grants; null otherwise.")
    reviewed_at: datetime | None
    reviewed_by_user_id: str | None


GRANT_EXAMPLE: dict[str, Any] = {
    "id": "3d2c1b0a9f8e7d6c5b4a392817061524",
    "user_id": "5b1e0c2d9a7f4e3b8c6d1a2f3e4b5c6d",
    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
    "opened_at": "2030-01-15T15:00:00Z",
    "expires_at": "2030-01-15T16:00:00Z",
    "active": True,
    "reason": None,
    "reviewed_at": None,
    "reviewed_by_user_id": None,
}


class BreakGlassAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "grant": GRANT_EXAMPLE}]}
    )

    ok: Literal[True]
    grant: BreakGlassOut


class BreakGlassList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ok": True, "grants": [GRANT_EXAMPLE], "next_cursor": None}]
        }
    )

    ok: Literal[True]
    grants: list[BreakGlassOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
