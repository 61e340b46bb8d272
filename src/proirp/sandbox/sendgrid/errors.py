"""SendGrid's error answers: `{"errors": [{"message", "field", "help"}]}` with the HTTP status.

Messages follow SendGrid's wording (its "Status Codes & Errors" reference and answers seen from
the live API). Where the live API quotes a recipient's address the sandbox names the field path
instead, so no address reaches a log line that prints an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proirp.sandbox.errors import SandboxError

HELP_BASE = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

SERVER_FAULTS: dict[int, str] = {
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


def help_link(anchor: str) -> str:
    """The `help` link SendGrid puts on a validation error, e.g. `message.personalizations.to`."""
    return f"{HELP_BASE}#{anchor}"


@dataclass(frozen=True)
class FieldError:
    """One entry of the `errors` array."""

    message: str
    field: str | None = None
    help: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """The entry as SendGrid renders it (all three keys, null when not applicable)."""
        return {"message": self.message, "field": self.field, "help": self.help}


class SendGridApiError(SandboxError):
    """An API answer in SendGrid's error shape; raised anywhere inside a sandbox route."""

    def __init__(
        self,
        status: int,
        errors: Sequence[FieldError],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        super().__init__(f"sendgrid error {status}")

    def body(self) -> dict[str, object]:
        """The JSON SendGrid answers with."""
        return {"errors": [error.as_json() for error in self.errors]}


def unauthorized() -> SendGridApiError:
    """401 for a missing, malformed or wrong API key."""
    message = "The provided authorization grant is invalid, expired, or revoked"
    return SendGridApiError(401, [FieldError(message)])


def forbidden() -> SendGridApiError:
    """403 for a valid key whose scopes do not allow the call."""
    return SendGridApiError(403, [FieldError("access forbidden")])


def too_many_requests(headers: Mapping[str, str]) -> SendGridApiError:
    """429 with SendGrid's X-RateLimit-* headers."""
    return SendGridApiError(429, [FieldError("too many requests")], headers=headers)


def server_fault(status: int) -> SendGridApiError:
    """An injected 5xx (fail_next knob)."""
    return SendGridApiError(status, [FieldError(SERVER_FAULTS[status])])


def bad_request(message: str, field: str | None = None, anchor: str | None = None) -> FieldError:
    """A validation error entry; `anchor` selects the help link."""
    return FieldError(message, field, help_link(anchor) if anchor else None)


def control_error(status: int, message: str) -> SendGridApiError:
    """A refusal from a /_sandbox control route, in the same shape as the API's."""
    return SendGridApiError(status, [FieldError(message)])
