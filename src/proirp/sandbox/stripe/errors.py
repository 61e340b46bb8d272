"""Stripe's error answers: `{"error": {"message", "type"}}` with the HTTP status.

Messages follow the live API's wording; a wrong key is quoted back masked (proirp.sandbox.keys),
as Stripe does, never whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from proirp.sandbox.errors import SandboxError
from proirp.sandbox.keys import mask_key

# The part of a key Stripe shows before the asterisks: its kind and mode ("sk_test_").
_KEY_PREFIX = re.compile(r"^[a-z]{2}_(?:test|live)_")

MISSING_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Stripe"'}


class StripeApiError(SandboxError):
    """An API answer in Stripe's error shape; raised anywhere inside a sandbox route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.error_type = error_type
        self.headers = dict(headers or {})
        super().__init__(f"stripe error {status}")

    def body(self) -> dict[str, object]:
        """The JSON Stripe answers with (the SDK picks its exception by status and `type`)."""
        return {"error": {"message": self.message, "type": self.error_type}}


def masked(key: str) -> str:
    """A key as Stripe quotes it: "sk_test_" (its kind and mode), asterisks, the last four."""
    prefix = _KEY_PREFIX.match(key)
    return mask_key(key, head=len(prefix.group()) if prefix else 0)


def missing_key() -> StripeApiError:
    """401 for a request without a key."""
    return StripeApiError(401, MISSING_KEY, headers=CHALLENGE)


def invalid_key(given: str) -> StripeApiError:
    """401 for a wrong key, quoted back masked."""
    return StripeApiError(401, f"Invalid API Key provided: {masked(given)}", headers=CHALLENGE)


def server_fault(status: int) -> StripeApiError:
    """An injected 5xx (fail_next knob)."""
    return StripeApiError(status, "An unknown error occurred", error_type="api_error")


def control_error(status: int, message: str) -> StripeApiError:
    """A refusal from a /_sandbox control route, in the same shape as the API's."""
    return StripeApiError(status, message)
