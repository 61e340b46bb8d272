"""Twilio's error answers: the codes the sandbox uses, their HTTP statuses and their JSON shape."""

from __future__ import annotations

from collections.abc import Mapping

from proirp.sandbox.errors import SandboxError

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

# code -> (HTTP status, Twilio's message). Messages follow Twilio's wording; `{}` fields are
# filled in per request (Twilio itself echoes the numbers back, so the product must never log them).
CATALOGUE: dict[int, tuple[int, str]] = {
    20001: (400, "Unknown or invalid parameter: {name}"),
    20003: (401, "Authenticate"),
    20009: (409, "Cannot delete this resource before it is complete"),
    20404: (404, "The requested resource {uri} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21212: (
        400,
        "The 'From' number {from_} is not a valid phone number, shortcode, "
        "or alphanumeric sender ID.",
    ),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region "
        "indicated by the 'To' number: {to}.",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The 'From' phone number provided is not a valid, message-capable Twilio phone number "
        "for this destination.",
    ),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21612: (
        400,
        "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
        "number: {from_} via SMS.",
    ),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21624: (400, "Validity period can only be set to integers between 1 and 36,000 seconds."),
    21701: (400, "The Messaging Service Sid {sid} is invalid."),
    30400: (400, "Parameters are not valid: {detail}"),
    30409: (400, "This message cannot be canceled"),
}

# Delivery errors reported on the message itself (status callbacks, fetch), not as HTTP errors.
DELIVERY_ERRORS: dict[int, str] = {
    30003: "Unreachable destination handset",
    30008: "Unknown error",
}


class TwilioApiError(SandboxError):
    """An API answer in Twilio's error shape; raised anywhere inside a sandbox route."""

    def __init__(
        self,
        code: int,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: object,
    ) -> None:
        default_status, template = CATALOGUE[code]
        self.code = code
        self.status = status or default_status
        self.message = template.format(**fields)
        self.headers = dict(headers or {})
        super().__init__(f"twilio error {code}")

    def body(self) -> dict[str, object]:
        """The JSON Twilio answers with (the SDK reads `code`, `message` and `more_info`)."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


class ControlError(SandboxError):
    """A refusal from a /_sandbox control route: `{"message", "status"}`, not Twilio's API shape
    (these routes are the sandbox's own)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        self.headers = {}
        super().__init__(f"sandbox control error {status}")

    def body(self) -> dict[str, object]:
        """The JSON the control routes answer a refusal with."""
        return {"message": self.message, "status": self.status}


def authentication_error() -> TwilioApiError:
    """401 as Twilio sends it, with the Basic challenge."""
    return TwilioApiError(20003, headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
