"""OpenAI's error answers: `{"error": {"message", "type", "param", "code"}}` with the HTTP status.

Messages follow the live API's wording; a wrong key is quoted back masked (proirp.sandbox.keys),
as OpenAI does, never whole.
"""

from __future__ import annotations

from collections.abc import Mapping

from proirp.sandbox.errors import SandboxError
from proirp.sandbox.keys import mask_key

KEYS_PAGE = "https://platform.openai.com/account/api-keys"
# OpenAI shows a wrong key's first six characters ("sk-pro…") and its last four.
MASK_HEAD = 6

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    f"username. You can obtain an API key from {KEYS_PAGE}."
)
SERVER_FAULTS: dict[int, str] = {
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The server is overloaded or not ready yet.",
}


class OpenAIApiError(SandboxError):
    """An API answer in OpenAI's error shape; raised anywhere inside a sandbox route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.headers = dict(headers or {})
        super().__init__(f"openai error {status}")

    def body(self) -> dict[str, object]:
        """The JSON OpenAI answers with (the SDK reads `error.code`, `type` and `param`)."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": None,
                "code": self.code,
            }
        }


def missing_key() -> OpenAIApiError:
    """401 for a request without a bearer key."""
    return OpenAIApiError(401, MISSING_KEY)


def invalid_key(given: str) -> OpenAIApiError:
    """401 for a wrong key, quoted back masked."""
    message = (
        f"Incorrect API key provided: {mask_key(given, head=MASK_HEAD)}. "
        f"You can find your API key at {KEYS_PAGE}."
    )
    return OpenAIApiError(401, message, code="invalid_api_key")


def server_fault(status: int) -> OpenAIApiError:
    """An injected 5xx (fail_next knob)."""
    return OpenAIApiError(status, SERVER_FAULTS[status], error_type="server_error")


def control_error(status: int, message: str) -> OpenAIApiError:
    """A refusal from a /_sandbox control route, in the same shape as the API's."""
    return OpenAIApiError(status, message)
