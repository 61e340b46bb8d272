"""Request and response bodies for two-step sign-in (/auth/login/mfa, /auth/mfa, an admin's
reset)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from proirp.auth.second_factor import MAX_CODE_LENGTH
from proirp.kit.input import RequestBody

CODE_DESCRIPTION = "The 6-digit code the authenticator app shows now, or a recovery code."


class LoginCodeRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"challenge": "example-challenge-not-real", "code": "492039"}]
        }
    )

    challenge: str = Field(
        min_length=1,
        max_length=100,
        description="`error.challenge` of the 401 `mfa_required` answer to POST /auth/login.",
    )
    code: str = Field(min_length=1, max_length=MAX_CODE_LENGTH, description=CODE_DESCRIPTION)


class CodeRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "492039"}]})

    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_LENGTH,
        description="The 6-digit code the authenticator app shows now.",
    )


class FreshCodeRequest(RequestBody):
    """The acting admin's current code, for a change to an admin's account (or making one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "492039"}]})

    code: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CODE_LENGTH,
        description="The 6-digit code your own authenticator app shows now. Required when the "
        "account changed is an admin's, or is being made one (422 `fresh_code_required` "
        "without it); not needed for other accounts. A wrong code counts in the login limits.",
    )


class MfaStatusOut(BaseModel):
    enabled: bool = Field(description="A second factor is set up: sign-in asks for a code.")
    required: bool = Field(
        description="This account must have one (admins; everyone with MFA_REQUIRED_FOR_ALL)."
    )
    enrolled_at: datetime | None
    recovery_codes_left: int


class MfaStatusAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "mfa": {
                        "enabled": True,
                        "required": True,
                        "enrolled_at": "2030-01-15T15:00:00Z",
                        "recovery_codes_left": 10,
                    },
                }
            ]
        }
    )

    ok: Literal[True]
    mfa: MfaStatusOut


class EnrolmentOut(BaseModel):
    secret: str = Field(description="The base32 key, for typing into the app by hand.")
    otpauth_uri: str = Field(description="The otpauth:// address the QR code holds.")
    qr_svg: str = Field(description="The QR code, an SVG element.")


class EnrolmentAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "enrolment": {
                        "secret": "EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAM",
                        "otpauth_uri": "otpauth://totp/Pro%20IRP:front.desk%40example.com"
                        "?secret=EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAM&issuer=Pro%20IRP",
                        "qr_svg": "<svg ...>...</svg>",
                    },
                }
            ]
        }
    )

    ok: Literal[True]
    enrolment: EnrolmentOut


class RecoveryCodesAnswer(BaseModel):
    """Recovery codes, shown this once: each signs in once in place of a code."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ok": True, "recovery_codes": ["abcd-efgh-jkmn-pqrs", "..."]}]
        }
    )

    ok: Literal[True]
    recovery_codes: list[str]


class MfaResetAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "had_second_factor": True}]}
    )

    ok: Literal[True]
    had_second_factor: bool
