"""Audit archives in the S3 bucket, beside the anchors: each under `<prefix>archives/`, locked
for the same retention, never written over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import IO

from proirp.audit.anchor_s3 import ARCHIVES, retain_until, s3_connection
from proirp.audit.archive import Seal
from proirp.config import Settings
from proirp.integrations.aws_s3.bucket import LockedBucket

_DAY = "%Y%m%dT%H%M%SZ"


class NoBucket(Exception):
    """AUDIT_ANCHOR_S3_BUCKET is not set."""


def archive_key(settings: Settings, seal: Seal) -> str:
    """Where an archive goes: its period and its rows in the name, so a listing reads as one."""
    since, until = (moment.astimezone(UTC).strftime(_DAY) for moment in (seal.since, seal.until))
    rows = f"rows-{seal.first_id:020d}-{seal.last_id:020d}"
    return f"{settings.audit_anchor_s3_prefix}{ARCHIVES}{since}-{until}-{rows}.jsonl"


def bucket(settings: Settings) -> LockedBucket:
    connection = s3_connection(settings)
    if connection is None:
        raise NoBucket("AUDIT_ANCHOR_S3_BUCKET is not set")
    return LockedBucket(connection)


def store_archive(settings: Settings, body: IO[bytes], seal: Seal) -> str:
    """Put the archive in `body` (read from its start) in the bucket, locked; returns its key.
    Raises ProviderError (an archive of the same rows and period exists already, denied...)."""
    target = bucket(settings)
    key = archive_key(settings, seal)
    body.seek(0)
    try:
        target.put_locked(
            key,
            body,
            mode=settings.audit_anchor_s3_lock_mode,
            retain_until=retain_until(settings),
            content_type="application/x-ndjson",
        )
    finally:
        target.close()
    return key


def archive_lines(settings: Settings, key: str) -> Iterator[bytes]:
    """The lines of the archive at `key` in the bucket (or at `s3://bucket/key`)."""
    if key.startswith("s3://"):
        name, _, key = key.removeprefix("s3://").partition("/")
        settings = settings.model_copy(update={"audit_anchor_s3_bucket": name})
    target = bucket(settings)
    try:
        yield from target.lines(key)
    finally:
        target.close()
