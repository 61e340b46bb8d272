"""One S3 bucket with Object Lock, as the audit trail uses it: objects written once with a
retention, listed with every version (a delete marker hides nothing), read back.

Failures are our own ProviderErrors, carrying S3's error code and a plain reason: never a key,
a secret or an object's content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from proirp.integrations.base import (
    ProviderError,
    ProviderPermanentError,
    ProviderTemporaryError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROVIDER = "S3"
LockMode = Literal["COMPLIANCE", "GOVERNANCE"]

REASONS = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied: the credentials may not do this (see the IAM policy)",
    "InvalidAccessKeyId": "S3 does not know AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "S3 refused AWS_SECRET_ACCESS_KEY (the signature does not match)",
    "ExpiredToken": "the AWS credentials have expired",
    "ObjectLockConfigurationNotFoundError": "Object Lock is not enabled on the bucket",
    "InvalidRequest": "S3 refused the request",
    "PreconditionFailed": "an object with this key exists already",
    "NoSuchKey": "no such object",
    "PermanentRedirect": "the bucket is in another region than AWS_REGION",
    "AuthorizationHeaderMalformed": "the bucket is in another region than AWS_REGION",
}


@dataclass(frozen=True)
class S3Connection:
    """Where the bucket is and who we are; `secret_access_key` is never logged or printed."""

    bucket: str
    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class StoredVersion:
    key: str
    version_id: str


@dataclass(frozen=True)
class Retention:
    mode: str | None
    retain_until: datetime | None


class LockedBucket:
    def __init__(self, connection: S3Connection) -> None:
        self.bucket = connection.bucket
        self.address = connection.endpoint_url or f"https://s3.{connection.region}.amazonaws.com"
        session = boto3.session.Session(
            aws_access_key_id=connection.access_key_id,
            aws_secret_access_key=connection.secret_access_key,
            aws_session_token=connection.session_token,
            region_name=connection.region,
        )
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=connection.endpoint_url,
            config=Config(
                connect_timeout=connection.timeout,
                read_timeout=connection.timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                # Path-style addressing works with AWS and every S3-compatible server.
                s3={"addressing_style": "path"},
            ),
        )

    def object_lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock on; raises ProviderError (no bucket, denied...)."""
        try:
            found = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) == "ObjectLockConfigurationNotFoundError":
                return False
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None
        return found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def put_locked(
        self,
        key: str,
        body: bytes | IO[bytes],
        *,
        mode: LockMode,
        retain_until: datetime,
        content_type: str,
    ) -> str:
        """Write a new object under `key`, locked until `retain_until`; its version id.

        Refused (PreconditionFailed) if the key exists already: nothing is ever written over."""
        try:
            written = self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ObjectLockMode=mode,
                ObjectLockRetainUntilDate=retain_until,
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None
        return str(written.get("VersionId") or "")

    def retention(self, key: str) -> Retention:
        """The lock on the current version of `key`."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None
        return Retention(head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate"))

    def versions(self, prefix: str) -> Iterator[StoredVersion]:
        """Every version of every object under `prefix`, in key order; delete markers are
        skipped, so an object someone "deleted" is still found."""
        paginator = self._client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    yield StoredVersion(version["Key"], str(version.get("VersionId") or ""))
        except ClientError as exc:
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None

    def read(self, key: str, version_id: str | None = None) -> bytes:
        try:
            if version_id:
                found = self._client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            else:
                found = self._client.get_object(Bucket=self.bucket, Key=key)
            return found["Body"].read()
        except ClientError as exc:
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None

    def lines(self, key: str) -> Iterator[bytes]:
        """The current version of `key`, line by line as it arrives (an archive can be large)."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            yield from body.iter_lines()
        except ClientError as exc:
            raise _error(exc) from None
        except BotoCoreError as exc:
            raise _unreachable(exc) from None

    def close(self) -> None:
        self._client.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _error(exc: ClientError) -> ProviderError:
    code = _code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in REASONS:
        reason = REASONS[code]
    elif status == 403:
        code, reason = code or "403", REASONS["AccessDenied"]
    elif status == 404:
        code, reason = code or "404", "not found"
    else:
        reason = f"S3 answered HTTP {status}" if status else "S3 refused the request"
    if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
        return ProviderTemporaryError(PROVIDER, code or None, reason)
    return ProviderPermanentError(PROVIDER, code or None, reason)


def _unreachable(exc: BotoCoreError) -> ProviderError:
    if isinstance(exc, EndpointConnectionError):
        return ProviderTemporaryError(PROVIDER, None, "S3 could not be reached")
    # The class only: botocore's text can quote the endpoint with credentials in it.
    return ProviderTemporaryError(PROVIDER, None, f"S3 could not be reached ({type(exc).__name__})")
