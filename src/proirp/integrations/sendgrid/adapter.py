"""SendGridEmailSender: our EmailSender contract over the official `sendgrid` SDK.

One call carries up to 1,000 personalizations; each carries our communication id in
`custom_args`, so every event SendGrid reports names the message it is about.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
from typing import Any

import python_http_client
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from proirp.integrations.base import (
    EmailBatch,
    EmailRecipient,
    ProviderAmbiguousError,
    ProviderError,
    ProviderPermanentError,
    ProviderTemporaryError,
    SendResult,
)
from proirp.integrations.observed import provider_call
from proirp.integrations.sendgrid.errors import is_retryable, reason_for, retry_after_seconds

PROVIDER = "sendgrid"
MAX_PERSONALIZATIONS = 1000
REFERENCE_ARG = "communication_id"
# A call with many recipients takes SendGrid longer to answer: wait this much more per recipient.
SECONDS_PER_RECIPIENT = 0.01


class SendGridEmailSender:
    def __init__(self, *, api_key: str, api_base: str, timeout: float = 10.0) -> None:
        self._sdk = SendGridAPIClient(api_key=api_key, host=api_base.rstrip("/"))
        self._timeout = timeout

    def _client(self, recipients: int) -> python_http_client.Client:
        """The SDK's HTTP client with a timeout for this call (the SDK's own has none).

        Built per call: the client is a thin wrapper over urllib, which keeps no connections.
        """
        return python_http_client.Client(
            host=self._sdk.host,
            request_headers=self._sdk._default_headers,
            version=3,
            timeout=self._timeout + SECONDS_PER_RECIPIENT * recipients,
        )

    @staticmethod
    def _personalization(recipient: EmailRecipient) -> dict[str, Any]:
        item: dict[str, Any] = {
            "to": [{"email": recipient.to}],
            "custom_args": {REFERENCE_ARG: recipient.reference},
        }
        if recipient.subject is not None:
            item["subject"] = recipient.subject
        if recipient.substitutions:
            item["substitutions"] = dict(recipient.substitutions)
        if recipient.dynamic_template_data is not None:
            item["dynamic_template_data"] = recipient.dynamic_template_data
        if recipient.headers:
            item["headers"] = dict(recipient.headers)
        return item

    def request_body(self, batch: EmailBatch) -> dict[str, Any]:
        """The mail/send body for `batch` (public for the contract test)."""
        if not 1 <= len(batch.recipients) <= MAX_PERSONALIZATIONS:
            raise ValueError(f"a batch holds 1 to {MAX_PERSONALIZATIONS} recipients")
        sender: dict[str, str] = {"email": batch.from_email}
        if batch.from_name:
            sender["name"] = batch.from_name
        body: dict[str, Any] = {
            "from": sender,
            "personalizations": [self._personalization(r) for r in batch.recipients],
        }
        if batch.subject is not None:
            body["subject"] = batch.subject
        content = [
            {"type": kind, "value": value}
            for kind, value in (("text/plain", batch.text), ("text/html", batch.html))
            if value
        ]
        if content:
            body["content"] = content
        if batch.template_id:
            body["template_id"] = batch.template_id
        if batch.categories:
            body["categories"] = list(batch.categories)
        return body

    @provider_call(PROVIDER, "send")
    def send(self, batch: EmailBatch) -> list[SendResult]:
        """Hand one batch to SendGrid; one result per recipient, in order.

        Raises ProviderTemporaryError (nothing accepted; retry), ProviderPermanentError (refused)
        or ProviderAmbiguousError (the request left; no answer came back).
        """
        body = self.request_body(batch)
        try:
            response = self._client(len(batch.recipients)).mail.send.post(request_body=body)
        except HTTPError as exc:
            raise self._map_http_error(exc) from None
        except urllib.error.URLError as exc:
            # URLError wraps failures before the request was sent: refused, DNS, connect timeout.
            raise ProviderTemporaryError(PROVIDER, None, "SendGrid could not be reached") from exc
        except (TimeoutError, http.client.HTTPException, ConnectionError) as exc:
            raise ProviderAmbiguousError(
                PROVIDER, None, "no answer from SendGrid after sending"
            ) from exc
        message_id = str(response.headers.get("X-Message-Id") or "")
        return [SendResult(provider_message_id=message_id, status="accepted")] * len(
            batch.recipients
        )

    @provider_call(PROVIDER, "scopes")
    def scopes(self) -> list[str]:
        """What the API key may do (GET /v3/scopes); SendGrid refuses a wrong key with 401."""
        try:
            response = self._client(0).scopes.get()
        except HTTPError as exc:
            raise self._map_http_error(exc) from None
        except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
            raise ProviderTemporaryError(PROVIDER, None, "SendGrid could not be reached") from exc
        scopes = json.loads(response.body or b"{}").get("scopes", [])
        return [str(scope) for scope in scopes]

    @staticmethod
    def _map_http_error(exc: HTTPError) -> ProviderError:
        status = int(exc.status_code)
        reason = reason_for(status, exc.body)
        if is_retryable(status):
            headers = dict(exc.headers.items()) if exc.headers is not None else None
            return ProviderTemporaryError(
                PROVIDER, str(status), reason, retry_after=retry_after_seconds(headers)
            )
        return ProviderPermanentError(PROVIDER, str(status), reason)
