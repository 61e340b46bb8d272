"""Request and response bodies for /auth."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from proirp.auth.password_policy import MAX_PASSWORD_LENGTH
from proirp.kit.input import RequestBody


class LoginRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "front.desk@example.com", "password": "correct-horse-battery"}]
        }
    )

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


USER_EXAMPLE: dict[str, Any] = {
    "id": "5f0c2a9e8b7d4e6fa1c3b5d7e9f1a2b4",
    "email": "front.desk@example.com",
    "role": "staff",
    "is_active": True,
    "created_at": "2030-01-15T15:00:00Z",
    "last_login_at": "2030-01-15T15:00:00Z",
}


class LoginOut(BaseModel):
    """A new session: the bearer token, the CSRF token for cookie requests, and who signed in."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "token": "pirp_example-token-not-real",
                    "csrf_token": "example-csrf-token-not-real",
                    "expires_in": 43200,
                    "user": USER_EXAMPLE,
                }
            ]
        }
    )

    ok: Literal[True]
    token: str
    csrf_token: str
    expires_in: int = Field(description="Seconds until the session expires.")
    user: UserOut


class MeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ok": True, "user": USER_EXAMPLE}]})

    ok: Literal[True]
    user: UserOut
