"""Application errors: one base class, rendered by one handler as `{"ok": false, ...}`."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error the API shows to its caller. `code` is stable once published."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields
        self.headers = headers

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"ok": False, "error": error}


class NotAuthenticated(AppError):
    """A 401 names how to authenticate (RFC 7235); a refused token adds its RFC 6750 error."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str, *, bearer_error: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        challenge = 'Bearer realm="proirp"'
        if bearer_error is not None:
            challenge += f', error="{bearer_error}"'
        self.headers = {"WWW-Authenticate": challenge, **(self.headers or {})}


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class FieldProblem(ValueError):
    """Raised by a request body's own check across its fields (a model validator) about one of
    them: the 422 names that field, where pydantic would name the body as a whole."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
