"""What /openapi.json says beyond the routes themselves: the error answers, the sign-in schemes,
and the answers every signed-in route can give."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

ERROR_SCHEMA = "ErrorBody"
# The statuses an error answer may have, and what each means on any route.
ERROR_MEANINGS: dict[int, str] = {
    400: "The request cannot be used as sent.",
    401: "Not signed in: no bearer token or session cookie, or one that is unknown or expired.",
    403: "Signed in, but not allowed: the caller's role may not do this, or a change made with "
    "the session cookie lacks the X-CSRF-Token header.",
    404: "Nothing with that id.",
    409: "The change conflicts with what is already recorded.",
    413: "The request body is larger than this address accepts; `error.fields.body` says the "
    "limit.",
    422: "The request is not valid; `error.fields` names each field and what is wrong with it.",
    429: "Too many attempts; `Retry-After` says when to try again.",
    503: "A provider this needs is not configured (production only), or is unavailable.",
}

API_DESCRIPTION = """\
The Pro IRP integrations API: clients, messages (SMS and email), templates, campaigns, calendars
and the audit log.

Sign in with `POST /auth/login`, then send `Authorization: Bearer <token>` (the **Authorize**
button). A browser may instead use the session cookie that login sets; a change made with the
cookie also needs the `X-CSRF-Token` header (the `csrf_token` from login).

Every answer carries `ok`. Errors are `{"ok": false, "error": {"code", "message", "fields"}}`;
a `code` never changes once published. A method a path does not support answers `405` with an
`Allow` header listing the methods it does support.
"""


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable reason, e.g. `validation_error`.")
    message: str = Field(description="What went wrong, for people; never contains PHI.")
    fields: dict[str, str] | None = Field(
        default=None, description="For invalid input: each field that is wrong, and why."
    )


class ErrorBody(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "error": {
                        "code": "validation_error",
                        "message": "invalid request: phone: is not a valid phone number",
                        "fields": {"phone": "is not a valid phone number"},
                    },
                }
            ]
        }
    )

    ok: Literal[False]
    error: ErrorDetail


class Done(BaseModel):
    """An answer that carries nothing but its success."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ok": True}]})

    ok: Literal[True]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error answers it can give besides 401, 403 and 422."""
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses
    }


def _error_answer(status: int) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    return {
        "description": ERROR_MEANINGS[status],
        "content": {"application/json": {"schema": schema}},
    }


def _complete(document: dict[str, Any]) -> None:
    """Every operation answers invalid input with the error shape; signed-in ones also 401/403."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            # FastAPI's own 422 schema is `{"detail": [...]}`; ours is the error shape.
            if "HTTPValidationError" in str(answers.get("422", "")):
                answers["422"] = _error_answer(422)
            if "requestBody" in operation:  # a body that is not JSON at all, or too large
                answers.setdefault("400", _error_answer(400))
                answers.setdefault("413", _error_answer(413))
            if operation.get("security"):
                answers.setdefault("401", _error_answer(401))
                answers.setdefault("403", _error_answer(403))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if ERROR_SCHEMA not in schemas:
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas[ERROR_SCHEMA] = body


def describe_api(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (made once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=API_DESCRIPTION,
                routes=app.routes,
            )
            _complete(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
