"""The settings of signing in: how long a session lasts, the login limits, and who must use a
second factor (a part of `Settings`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignInSettings(BaseModel):
    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    # A browser session unused this long is over (automatic logoff); see auth/sessions.py.
    session_idle_minutes: int = Field(default=15, ge=2, le=24 * 60)
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    # Admins always sign in with a second factor; true: everyone (decisions/0020-second-factor.md).
    mfa_required_for_all: bool = False
