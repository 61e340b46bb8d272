"""AWS S3, where the audit trail is kept off the machine: the bucket is reachable, has Object
Lock on, and takes a small probe object written the way anchors are (with a retention).

The probe says what it is, and is locked for one day only (a lifecycle rule on probes/ may
expire it after that); a bucket whose default retention is longer keeps it that long."""

from __future__ import annotations

from datetime import timedelta

from proirp.audit.anchor_s3 import PROBES, s3_connection
from proirp.checks.report import Report, refusal
from proirp.config import Settings
from proirp.integrations.aws_s3.bucket import LockedBucket
from proirp.integrations.base import ProviderError
from proirp.kit.time import utcnow

PROBE_TEXT = (
    b"Pro IRP integration check (proirp check-integrations): this object only shows that the "
    b"bucket takes locked writes. It holds nothing else.\n"
)
PROBE_RETENTION = timedelta(days=1)


def s3_report(_: Settings) -> Report:
    baa = "the practice's with AWS (AWS Artifact; S3 is HIPAA-eligible; not tracked here)"
    return Report("S3", "AWS S3 (audit anchors and archives)", "📦", baa=baa)


def check_s3(settings: Settings) -> Report:
    report = s3_report(settings)
    connection = s3_connection(settings)
    if connection is None:
        report.not_configured(
            "AUDIT_ANCHOR_S3_BUCKET is not set (optional): audit anchors stay in "
            "AUDIT_ANCHOR_PATH on this machine only"
        )
        return report
    bucket = LockedBucket(connection)
    name = f"bucket {connection.bucket}"
    try:
        try:
            locked = bucket.object_lock_enabled()
        except ProviderError as exc:
            report.fail(f"{name}: {refusal(exc, bucket.address)}")
            return report
        if not locked:
            report.fail(
                f"{name} is reachable, but Object Lock is not enabled on it: anchors there could "
                "be deleted. Enable it (bucket → Properties → Object Lock), or use a bucket "
                "created with it"
            )
            return report
        report.ok(f"{name} is reachable and has Object Lock enabled")
        stamp = f"{utcnow():%Y%m%dT%H%M%S.%fZ}"
        key = f"{settings.audit_anchor_s3_prefix}{PROBES}check-integrations-{stamp}.txt"
        try:
            bucket.put_locked(
                key,
                PROBE_TEXT,
                mode=settings.audit_anchor_s3_lock_mode,
                retain_until=utcnow() + PROBE_RETENTION,
                content_type="text/plain",
            )
            retention = bucket.retention(key)
        except ProviderError as exc:
            report.fail(f"{name} did not take a probe object: {refusal(exc, bucket.address)}")
            return report
        if retention.mode != settings.audit_anchor_s3_lock_mode or retention.retain_until is None:
            report.fail(
                f"{name} took a probe object but does not show its lock "
                f"({settings.audit_anchor_s3_lock_mode} asked): allow s3:GetObjectRetention, "
                "and check the bucket's Object Lock"
            )
            return report
        report.ok(
            f"A probe object was written and locked ({retention.mode}, until "
            f"{retention.retain_until:%Y-%m-%d %H:%M} UTC)",
            f"Key: {key}",
        )
    finally:
        bucket.close()
    return report
