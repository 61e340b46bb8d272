"""The Media subresource of a message: what a simulated client may attach, and how Twilio
renders and serves it (`.../Messages/{MessageSid}/Media/{Sid}` and `.json`, `Media.json`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proirp.sandbox.twilio.messages import API_VERSION, rfc2822

MAX_MEDIA_ITEMS = 10
MAX_TOTAL_BYTES = 5 * 1024 * 1024
IMAGE_LIMIT_BYTES = 5 * 1024 * 1024  # the types Twilio fully supports (it resizes them)
OTHER_LIMIT_BYTES = 500 * 1024  # every other accepted type
FULLY_SUPPORTED = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif"})
# Twilio's "Accepted content types for media" (MMS), beyond the four above.
OTHER_ACCEPTED = frozenset(
    {
        "image/bmp",
        "audio/basic", "audio/L24", "audio/mp4", "audio/mpeg", "audio/ogg",
        "audio/vnd.rn-realaudio", "audio/vnd.wave", "audio/3gpp", "audio/3gpp2", "audio/ac3",
        "audio/webm", "audio/amr-nb", "audio/amr",
        "video/mpeg", "video/mp4", "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2",
        "video/3gpp-tt", "video/H261", "video/H263", "video/H263-1998", "video/H263-2000",
        "video/H264",
        "text/vcard", "text/x-vcard", "text/csv", "text/rtf", "text/richtext", "text/calendar",
        "text/directory",
        "application/pdf", "application/vcard", "application/vnd.apple.pkpass",
    }
)  # fmt: skip
# MIME types compare case-insensitively (Twilio lists "audio/L24" and "video/H264").
ACCEPTED_CONTENT_TYPES = frozenset(name.lower() for name in FULLY_SUPPORTED | OTHER_ACCEPTED)


class MediaRefused(ValueError):
    """An attachment Twilio would not carry; the message names the field and why."""


@dataclass(frozen=True)
class Attachment:
    """One decoded, accepted attachment of a simulated inbound MMS."""

    content_type: str
    content: bytes


def read_attachments(items: Sequence[tuple[str, str]]) -> list[Attachment]:
    """Decode (content_type, content_base64) pairs and hold them to Twilio's MMS limits."""
    if len(items) > MAX_MEDIA_ITEMS:
        raise MediaRefused(f"media: at most {MAX_MEDIA_ITEMS} items, got {len(items)}")
    attachments = []
    for index, (content_type, encoded) in enumerate(items):
        if content_type.lower() not in ACCEPTED_CONTENT_TYPES:
            raise MediaRefused(
                f"media.{index}.content_type: {content_type!r} is not a content type Twilio "
                "accepts for MMS"
            )
        try:
            content = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise MediaRefused(f"media.{index}.content_base64: not valid base64") from None
        if not content:
            raise MediaRefused(f"media.{index}.content_base64: empty")
        limit = IMAGE_LIMIT_BYTES if content_type.lower() in FULLY_SUPPORTED else OTHER_LIMIT_BYTES
        if len(content) > limit:
            raise MediaRefused(
                f"media.{index}.content_base64: {len(content)} bytes is over Twilio's "
                f"{limit // 1024} KB limit for {content_type}"
            )
        attachments.append(Attachment(content_type=content_type, content=content))
    total = sum(len(attachment.content) for attachment in attachments)
    if total > MAX_TOTAL_BYTES:
        raise MediaRefused(f"media: {total} bytes in all is over Twilio's 5 MB per message")
    return attachments


def media_path(account_sid: str, message_sid: str, media_sid: str) -> str:
    """The Twilio-relative path of one media file (its content; add .json for the resource)."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def media_list_uri(account_sid: str, message_sid: str) -> str:
    """The Twilio-relative URI of a message's media list."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media.json"


@dataclass(frozen=True)
class MediaRecord:
    """One media file the sandbox holds for a message."""

    sid: str
    parent_sid: str
    account_sid: str
    content_type: str
    content: bytes
    date_created: datetime

    def resource(self) -> dict[str, Any]:
        """The Media resource as Twilio's API renders it (never the content)."""
        return {
            "account_sid": self.account_sid,
            "content_type": self.content_type,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "parent_sid": self.parent_sid,
            "sid": self.sid,
            "uri": media_path(self.account_sid, self.parent_sid, self.sid) + ".json",
        }


def media_page(
    media: Sequence[MediaRecord], *, account_sid: str, message_sid: str, page: int, page_size: int
) -> dict[str, Any]:
    """One page of a message's media in Twilio's list shape (key `media_list`)."""
    path = media_list_uri(account_sid, message_sid)
    start = page * page_size
    items = media[start : start + page_size]

    def page_uri(number: int) -> str:
        return f"{path}?PageSize={page_size}&Page={number}"

    return {
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": page_uri(0),
        "media_list": [record.resource() for record in items],
        "next_page_uri": page_uri(page + 1) if start + page_size < len(media) else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": page_uri(page),
    }
