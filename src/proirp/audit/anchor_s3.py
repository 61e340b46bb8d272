"""Anchors in an S3 bucket with Object Lock: each anchor an object of its own, locked for the
retention the settings give (six years by default), so that nobody who can write this machine,
or the database, can take one back.

The whole signed anchor is in the object's key (row id, time, key id, row hash, MAC; the body
holds the same as JSON for people reading the bucket), so one listing of the bucket's versions
reads every anchor without fetching any object. Versions, not the plain listing: a delete marker
hides an object from a plain listing, never from this one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import structlog

from proirp.audit.anchors import Anchor, AnchorStore, AnchorStoreError, AnchorStoreUnavailable
from proirp.config import Settings
from proirp.integrations.aws_s3.bucket import LockedBucket, S3Connection, StoredVersion
from proirp.integrations.base import ProviderError
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)

ANCHORS = "anchors/"
ARCHIVES = "archives/"
PROBES = "probes/"
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_NAME = re.compile(
    r"(?P<row_id>\d{20})-(?P<at>\d{8}T\d{6}\.\d{6}Z)-(?P<key_id>[0-9a-f]{16})"
    r"-(?P<row_hash>[0-9a-f]{64})-(?P<mac>[0-9a-f]{64})\.json"
)


def s3_connection(settings: Settings) -> S3Connection | None:
    """Where `settings` say the audit trail's bucket is, or None when none is set."""
    if not settings.audit_anchor_s3_bucket:
        return None
    secret, token = settings.aws_secret_access_key, settings.aws_session_token
    endpoint = settings.aws_endpoint_url_s3
    return S3Connection(
        bucket=settings.audit_anchor_s3_bucket,
        region=settings.aws_region_name,
        endpoint_url=str(endpoint).rstrip("/") if endpoint else None,
        access_key_id=settings.aws_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        session_token=token.get_secret_value() if token else None,
        timeout=settings.send_timeout_seconds,
    )


def retain_until(settings: Settings) -> datetime:
    """Until when an object written now stays locked."""
    return utcnow() + timedelta(days=settings.audit_anchor_s3_retention_days)


def anchor_key(prefix: str, anchor: Anchor) -> str:
    stamp = anchor.anchored_at.astimezone(UTC).strftime(_STAMP)
    return (
        f"{prefix}{ANCHORS}{anchor.row_id:020d}-{stamp}-{anchor.key_id}"
        f"-{anchor.row_hash}-{anchor.mac}.json"
    )


def anchor_from_key(name: str) -> Anchor | None:
    """The anchor an object's name (without the prefix) holds, or None if it holds none."""
    found = _NAME.fullmatch(name)
    if found is None:
        return None
    at = datetime.strptime(found["at"], _STAMP).replace(tzinfo=UTC)
    return Anchor(int(found["row_id"]), found["row_hash"], at, found["key_id"], found["mac"])


class S3AnchorStore:
    """Anchors in `bucket` under `<prefix>anchors/`, each locked until `retain_until()`."""

    def __init__(self, bucket: LockedBucket, settings: Settings) -> None:
        self.bucket = bucket
        self.settings = settings
        self.prefix = settings.audit_anchor_s3_prefix

    def append(self, anchor: Anchor) -> None:
        self.bucket.put_locked(
            anchor_key(self.prefix, anchor),
            _body(anchor),
            mode=self.settings.audit_anchor_s3_lock_mode,
            retain_until=retain_until(self.settings),
            content_type="application/json",
        )

    def latest(self) -> Anchor | None:
        return max((anchor for _, anchor in self.read_all()), key=_order, default=None)

    def read_all(self) -> Iterator[tuple[str, Anchor]]:
        start = len(self.prefix) + len(ANCHORS)
        for version in self._versions():
            where = f"s3://{self.bucket.bucket}/{version.key} (version {version.version_id})"
            anchor = anchor_from_key(version.key[start:])
            if anchor is None:
                raise AnchorStoreError(where)
            yield where, anchor

    def _versions(self) -> Iterator[StoredVersion]:
        """Every version under anchors/, page by page (six years of anchors are ~630,000)."""
        try:
            yield from self.bucket.versions(self.prefix + ANCHORS)
        except ProviderError as exc:
            raise AnchorStoreUnavailable(self.where, exc.reason) from None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket.bucket}/{self.prefix}{ANCHORS}"


class MirroredAnchorStore:
    """The file on this machine, and the bucket: appended to both, read from both.

    `latest` reads the file only (the worker asks every minute; the bucket's answer would cost a
    listing of it). An anchor the bucket refused is in the file still; the error is logged and
    raised, and the next anchor (once the log has grown) goes to both."""

    def __init__(self, file: AnchorStore, s3: S3AnchorStore) -> None:
        self.file = file
        self.s3 = s3

    def append(self, anchor: Anchor) -> None:
        self.file.append(anchor)
        try:
            self.s3.append(anchor)
        except ProviderError as exc:
            log.error("audit.anchor_not_in_bucket", row_id=anchor.row_id, code=exc.code)
            raise

    def latest(self) -> Anchor | None:
        return self.file.latest()

    def read_all(self) -> Iterator[tuple[str, Anchor]]:
        yield from self.file.read_all()
        yield from self.s3.read_all()


def with_s3(file: AnchorStore, settings: Settings) -> AnchorStore:
    """`file`, mirrored to the bucket when AUDIT_ANCHOR_S3_BUCKET is set."""
    connection = s3_connection(settings)
    if connection is None:
        return file
    return MirroredAnchorStore(file, S3AnchorStore(_shared_bucket(connection), settings))


@functools.lru_cache(maxsize=4)
def _shared_bucket(connection: S3Connection) -> LockedBucket:
    """One client a connection for the anchor store, which the worker builds every minute
    (boto3's clients are safe to share between threads, and slow to make)."""
    return LockedBucket(connection)


def _order(anchor: Anchor) -> tuple[int, datetime]:
    return anchor.row_id, anchor.anchored_at


def _body(anchor: Anchor) -> bytes:
    """The anchor as one JSON line, as the anchor file holds it."""
    fields = {
        "row_id": anchor.row_id,
        "row_hash": anchor.row_hash,
        "anchored_at": anchor.anchored_at.isoformat(timespec="microseconds"),
        "key_id": anchor.key_id,
        "mac": anchor.mac,
    }
    return (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode()
