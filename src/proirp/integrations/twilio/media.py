"""Fetching an inbound message's media: which URLs we fetch at all, how much we read, and what
a refusal means.

A MediaUrl{N} arrives in a webhook, so it is only as trustworthy as the webhook: we fetch it only
when it names a media file of our own account on the Twilio API we are configured for (never
another host with our credentials), and read at most MMS's 5 MB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from proirp.integrations.base import ProviderError, ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.twilio.errors import RETRYABLE_CODES, reason_for
from proirp.integrations.twilio.http import TWILIO_ORIGIN

PROVIDER = "twilio"
MAX_MEDIA_BYTES = 5 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"
    r"/Messages/(?:MM|SM)[0-9a-fA-F]{32}/Media/ME[0-9a-fA-F]{32}"
)


def media_request_url(media_url: str, *, api_base: str, account_sid: str) -> str | None:
    """The URL to GET for `media_url`, or None unless it is a media file of `account_sid` on
    `api_base`. https://api.twilio.com URLs are rewritten to `api_base` as the SDK's requests are
    (so the sandbox's MediaUrl and Twilio's own both work)."""
    if media_url.startswith(TWILIO_ORIGIN + "/"):
        media_url = api_base + media_url[len(TWILIO_ORIGIN) :]
    base = urlsplit(api_base)
    url = urlsplit(media_url)
    same_origin = (url.scheme.lower(), url.netloc.lower()) == (
        base.scheme.lower(),
        base.netloc.lower(),
    )
    base_path = base.path.rstrip("/")
    if not same_origin or url.query or url.fragment or not url.path.startswith(base_path + "/"):
        return None
    match = _MEDIA_PATH.fullmatch(url.path[len(base_path) :])
    if match is None or match["account"] != account_sid:
        return None
    return media_url


def read_bounded(chunks: Iterable[bytes], *, declared_length: str | None) -> bytes | None:
    """The whole content, or None as soon as it is known to exceed MAX_MEDIA_BYTES."""
    declared = int(declared_length) if declared_length and declared_length.isdigit() else 0
    if declared > MAX_MEDIA_BYTES:
        return None
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_MEDIA_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, without parameters."""
    return (content_type or "application/octet-stream").split(";", 1)[0].strip().lower()


def media_error(status: int, code: int | None, *, retry_after: float | None) -> ProviderError:
    """A refused media fetch as our error kinds: 429 and 5xx may pass, the rest will not."""
    if status == 429 or status >= 500 or code in RETRYABLE_CODES:
        reason = reason_for(code, status=status)
        return ProviderTemporaryError(
            PROVIDER, str(code or status), reason, retry_after=retry_after
        )
    reason = "Twilio has no such media file." if status == 404 else reason_for(code, status=status)
    return ProviderPermanentError(PROVIDER, str(code or status), reason)
