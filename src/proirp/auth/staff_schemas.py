"""Request and response bodies for the staff lifecycle: /users, sign out everywhere, and
setting a password through a reset link."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from proirp.auth.mfa_schemas import FreshCodeRequest
from proirp.auth.password_policy import MAX_PASSWORD_LENGTH
from proirp.auth.schemas import USER_EXAMPLE, UserOut
from proirp.kit.input import RequestBody


class RoleIn(FreshCodeRequest):
    """The new role; `code` as for every change to an admin's account, and to make one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "clinician"}]})

    role: Literal["admin", "clinician", "staff"]


class UserAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ok": True, "user": USER_EXAMPLE}]})

    ok: Literal[True]
    user: UserOut


class UsersOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "users": [USER_EXAMPLE], "next_cursor": None}]}
    )

    ok: Literal[True]
    users: list[UserOut]
    next_cursor: str | None


class ResetLinkOut(BaseModel):
    url: str = Field(description="The one-time link; shown only in this answer.")
    expires_at: datetime
    user_id: str


class ResetLinkAnswer(BaseModel):
    """A reset link for the admin to hand to its person (in person, or by a channel they trust):
    it is not stored and is never shown again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "password_reset": {
                        "url": "https://irp.example.com/app/reset-password/pirst_example-not-real",
                        "expires_at": "2030-01-15T16:00:00Z",
                        "user_id": USER_EXAMPLE["id"],
                    },
                }
            ]
        }
    )

    ok: Literal[True]
    password_reset: ResetLinkOut


class SignedOutOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ok": True, "sessions_ended": 3}]})

    ok: Literal[True]
    sessions_ended: int = Field(description="Sessions and API tokens ended, this one included.")


class ResetIn(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"token": "pirst_example-not-real", "password": "a new long passphrase here"}
            ]
        }
    )

    token: str = Field(min_length=1, max_length=100, description="The last part of the link.")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
