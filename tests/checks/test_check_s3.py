"""`check-integrations` on the S3 bucket the audit trail is kept in, against a local S3 server
(moto's, a process of its own): a good bucket, one without Object Lock, none at all, a server
that does not answer, and no bucket configured."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from proirp.audit.anchor_s3 import s3_connection
from proirp.checks.report import Renderer, Report, Status
from proirp.checks.runner import run_checks, secret_values
from proirp.checks.storage import PROBE_TEXT, check_s3
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.conftest import make_settings
from tests.live import free_port
from tests.s3_server import SECRET_ACCESS_KEY, GuardedBucket, S3Server


def _settings(tmp_path: Path, server: S3Server, bucket: str, **more: object) -> Settings:
    return make_settings(tmp_path, **server.settings(bucket, **more))


def texts(report: Report) -> str:
    return "\n".join(line.text for line in report.lines)


def test_a_good_bucket_is_reachable_locked_and_takes_a_locked_probe(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = _settings(tmp_path, s3_server, bucket, audit_anchor_s3_prefix="clinic-a/")

    report = check_s3(settings)

    assert report.status is Status.WORKING, texts(report)
    assert f"bucket {bucket} is reachable and has Object Lock enabled" in texts(report)
    assert "A probe object was written and locked (COMPLIANCE, until" in texts(report)
    [probe] = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert probe["Key"].startswith("clinic-a/probes/check-integrations-")
    client = s3_server.client()
    assert client.get_object(Bucket=bucket, Key=probe["Key"])["Body"].read() == PROBE_TEXT
    head = client.head_object(Bucket=bucket, Key=probe["Key"])
    assert head["ObjectLockRetainUntilDate"] < utcnow() + timedelta(days=2)
    shown = Renderer(secret_values(settings), encoding="utf-8").section(report)
    assert SECRET_ACCESS_KEY not in shown and "AWS S3 (audit anchors and archives)" in shown
    assert SECRET_ACCESS_KEY not in repr(s3_connection(settings))


def test_a_bucket_without_object_lock_fails(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.bucket(locked=False)

    report = check_s3(_settings(tmp_path, s3_server, bucket))

    assert report.status is Status.FAILING
    assert f"bucket {bucket} is reachable, but Object Lock is not enabled on it" in texts(report)
    assert "Contents" not in s3_server.client().list_objects_v2(Bucket=bucket)


def test_a_bucket_that_does_not_exist_fails_naming_it(tmp_path: Path, s3_server: S3Server) -> None:
    report = check_s3(_settings(tmp_path, s3_server, "no-such-bucket-here"))

    assert report.status is Status.FAILING
    assert texts(report) == (
        "bucket no-such-bucket-here: the bucket does not exist (error NoSuchBucket)"
    )


def test_an_unreachable_server_fails_naming_the_address(tmp_path: Path) -> None:
    gone = S3Server(f"http://127.0.0.1:{free_port()}")
    settings = make_settings(
        tmp_path, send_timeout_seconds=1, reconcile_after_seconds=2, **gone.settings("anchors")
    )

    report = check_s3(settings)

    assert report.status is Status.FAILING
    assert texts(report) == (
        f"bucket anchors: S3 could not be reached at {gone.url} "
        "(refused, timed out or not trusted; see 'Connection failures')"
    )


def test_credentials_the_bucket_refuses_fail_with_s3s_reason(
    tmp_path: Path, guarded_bucket: GuardedBucket
) -> None:
    allowed = guarded_bucket.settings()
    denied = check_s3(make_settings(tmp_path, **allowed))
    unknown = check_s3(make_settings(tmp_path, **(allowed | {"aws_access_key_id": "AKIANOBODY"})))

    bucket = guarded_bucket.bucket
    assert denied.status is Status.FAILING
    assert texts(denied) == (
        f"bucket {bucket} is reachable and has Object Lock enabled\n"
        f"bucket {bucket} did not take a probe object: access denied: the credentials may not "
        "do this (see the IAM policy) (error AccessDenied)"
    )
    assert unknown.status is Status.FAILING
    assert texts(unknown) == (
        f"bucket {bucket}: S3 does not know AWS_ACCESS_KEY_ID (error InvalidAccessKeyId)"
    )


def test_no_bucket_is_not_configured_and_the_run_includes_the_check(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    reports = run_checks(settings, None, dry_run=True)

    [report] = [report for report in reports if report.key == "S3"]
    assert report.status is Status.NOT_CONFIGURED
    assert "AUDIT_ANCHOR_S3_BUCKET is not set (optional)" in texts(report)
