"""TwilioSmsSender: our SmsSender contract over the official `twilio` SDK."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from proirp.integrations.base import (
    MediaContent,
    ProviderAmbiguousError,
    ProviderError,
    ProviderMessage,
    ProviderPermanentError,
    ProviderTemporaryError,
    SendResult,
)
from proirp.integrations.observed import provider_call
from proirp.integrations.twilio.errors import RETRYABLE_CODES, reason_for
from proirp.integrations.twilio.http import BaseUrlHttpClient
from proirp.integrations.twilio.media import (
    CHUNK_BYTES,
    media_error,
    media_request_url,
    media_type,
    read_bounded,
)

PROVIDER = "twilio"


@dataclass(frozen=True)
class TwilioAccount:
    status: str  # active, suspended, closed
    type: str  # Trial or Full


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _error_code(response: requests.Response) -> int | None:
    """The `code` of Twilio's JSON error body, when there is one."""
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


class TwilioSmsSender:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str,
        timeout: float = 10.0,
    ) -> None:
        self.from_number = from_number
        self._http = BaseUrlHttpClient(api_base, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def _map_rest_error(self, exc: TwilioRestException) -> ProviderError:
        code = exc.code
        reason = reason_for(code, status=exc.status)
        if exc.status == 429 or exc.status >= 500 or code in RETRYABLE_CODES:
            retry_after = _retry_after(self._http.last_headers())
            return ProviderTemporaryError(
                PROVIDER, str(code or exc.status), reason, retry_after=retry_after
            )
        return ProviderPermanentError(PROVIDER, str(code or exc.status), reason)

    @staticmethod
    def _map_transport_error(exc: requests.RequestException) -> ProviderError:
        if isinstance(exc, requests.ConnectTimeout):
            return ProviderTemporaryError(PROVIDER, None, "Twilio could not be reached (timeout)")
        if isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc):
            return ProviderTemporaryError(PROVIDER, None, "Twilio could not be reached")
        # The request may have arrived: only a lookup at Twilio can tell.
        return ProviderAmbiguousError(PROVIDER, None, "no answer from Twilio after sending")

    @provider_call(PROVIDER, "send")
    def send(self, to: str, body: str, *, status_callback: str | None) -> SendResult:
        """Hand one message to Twilio. Raises a ProviderError subclass on failure."""
        try:
            message = self._client.messages.create(
                to=to,
                from_=self.from_number,
                body=body,
                **({"status_callback": status_callback} if status_callback else {}),
            )
        except TwilioRestException as exc:
            raise self._map_rest_error(exc) from None
        except requests.RequestException as exc:
            raise self._map_transport_error(exc) from None
        return SendResult(provider_message_id=str(message.sid), status=str(message.status))

    @staticmethod
    def _to_message(message: object) -> ProviderMessage:
        code = getattr(message, "error_code", None)
        return ProviderMessage(
            provider_message_id=str(getattr(message, "sid", "")),
            to=str(getattr(message, "to", "")),
            body=getattr(message, "body", None),
            status=str(getattr(message, "status", "")),
            created_at=getattr(message, "date_created", None),
            error_code=str(code) if code else None,
        )

    @provider_call(PROVIDER, "account")
    def account(self) -> TwilioAccount:
        """The account the credentials belong to (Twilio refuses wrong ones with 20003)."""
        try:
            account = self._client.api.v2010.accounts(self._client.account_sid).fetch()
        except TwilioRestException as exc:
            raise self._map_rest_error(exc) from None
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Twilio could not be reached") from exc
        return TwilioAccount(status=str(account.status), type=str(account.type))

    @provider_call(PROVIDER, "fetch")
    def fetch(self, provider_message_id: str) -> ProviderMessage:
        try:
            message = self._client.messages(provider_message_id).fetch()
        except TwilioRestException as exc:
            raise self._map_rest_error(exc) from None
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Twilio could not be reached") from exc
        return self._to_message(message)

    @provider_call(PROVIDER, "find_sent")
    def find_sent(self, to: str, *, since: datetime) -> list[ProviderMessage]:
        """Messages from our number to `to` created since `since` (for reconciliation)."""
        try:
            messages = self._client.messages.list(
                to=to, from_=self.from_number, date_sent_after=since, limit=100
            )
        except TwilioRestException as exc:
            raise self._map_rest_error(exc) from None
        except TwilioException as exc:
            # A failed page of a list comes as a bare TwilioException carrying the response.
            status = getattr(exc.args[1], "status_code", 0) if len(exc.args) > 1 else 0
            reason = "Twilio could not list messages"
            if status == 429 or status >= 500 or status == 0:
                raise ProviderTemporaryError(PROVIDER, str(status or ""), reason) from None
            raise ProviderPermanentError(PROVIDER, str(status), reason) from None
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Twilio could not be reached") from exc
        return [self._to_message(message) for message in messages]

    @provider_call(PROVIDER, "fetch_media")
    def fetch_media(self, media_url: str) -> MediaContent:
        """One media file of an inbound message, by a MediaUrl{N} of its webhook.

        Fetched with the SDK's own session and credentials, and only from the configured Twilio
        API (ProviderPermanentError otherwise, so a forged webhook cannot send our credentials or
        our requests anywhere). Twilio answers with a redirect to a short-lived CDN URL, which
        is followed (requests drops the credentials on the way to another host). At most 5 MB.
        """
        url = media_request_url(
            media_url, api_base=self._http.api_base, account_sid=self._client.account_sid
        )
        if url is None:
            reason = "the media URL is not one of our account's media files on the Twilio API"
            raise ProviderPermanentError(PROVIDER, None, reason)
        # Not the SDK's request(): its Response holds the body decoded as text, which would
        # corrupt an image; the session, credentials and headers are the SDK's all the same.
        session = self._http.session or requests.Session()
        try:
            with session.get(
                url,
                auth=self._client.auth,
                headers=self._client.get_headers("GET", None),
                timeout=self._http.timeout,
                stream=True,
            ) as response:
                if response.status_code >= 400:
                    raise media_error(
                        response.status_code,
                        _error_code(response),
                        retry_after=_retry_after(dict(response.headers)),
                    )
                content = read_bounded(
                    response.iter_content(CHUNK_BYTES),
                    declared_length=response.headers.get("Content-Length"),
                )
                content_type = media_type(response.headers.get("Content-Type"))
        except requests.RequestException as exc:
            raise ProviderTemporaryError(
                PROVIDER, None, "Twilio could not be reached for the media"
            ) from exc
        if content is None:
            raise ProviderPermanentError(PROVIDER, None, "the media file is larger than 5 MB")
        return MediaContent(content_type=content_type, content=content)
