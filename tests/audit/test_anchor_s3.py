"""Anchors in an S3 bucket with Object Lock (a local S3 server, moto's, in a process of its own):
each anchor an object locked for six years, read back whatever the machine does to its own file,
so a log cut short is found against the bucket."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import delete
from typer.testing import CliRunner

from proirp import cli
from proirp.audit.anchor_file import anchor_store
from proirp.audit.anchor_s3 import MirroredAnchorStore, anchor_key
from proirp.audit.anchors import anchor_head
from proirp.audit.keys import ChainKeyring
from proirp.audit.models import AuditLog
from proirp.audit.verify import verify_chain
from proirp.config import Settings
from proirp.integrations.base import ProviderPermanentError
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from tests.audit.conftest import ChainDatabase, all_rows, tamper, write_rows
from tests.conftest import TEST_AUDIT_KEYS, make_settings
from tests.live import free_port
from tests.s3_server import SECRET_ACCESS_KEY, S3Server

KEYRING = ChainKeyring(TEST_AUDIT_KEYS)
SIX_YEARS = timedelta(days=2192)


def _settings(db: ChainDatabase, tmp_path: Path, server: S3Server, bucket: str) -> Settings:
    return make_settings(
        tmp_path,
        audit_anchor_path=str(db.anchors.path),
        **server.settings(bucket, audit_anchor_s3_prefix="clinic-a/"),
    )


def test_an_anchor_goes_to_the_bucket_locked_for_six_years_and_reads_back(
    chain_db: ChainDatabase, tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = _settings(chain_db, tmp_path, s3_server, bucket)
    store = anchor_store(settings)
    assert isinstance(store, MirroredAnchorStore)
    ids = write_rows(chain_db, 3)

    anchor = anchor_head(chain_db.engine, store, KEYRING.current)

    assert anchor is not None and anchor.row_id == ids[-1]
    key = anchor_key("clinic-a/", anchor)
    client = s3_server.client()
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs(head["ObjectLockRetainUntilDate"] - (utcnow() + SIX_YEARS)) < timedelta(minutes=5)
    body = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (body["row_id"], body["row_hash"], body["mac"]) == (
        anchor.row_id,
        all_rows(chain_db)[-1].hash,
        anchor.mac,
    )
    assert [found for _, found in store.s3.read_all()] == [anchor]
    assert TEST_AUDIT_KEYS[0] not in key
    # The lock holds: the version cannot be deleted; the product never writes a key again.
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    with pytest.raises(ProviderPermanentError, match="exists already"):
        store.s3.append(anchor)
    assert len(client.list_object_versions(Bucket=bucket)["Versions"]) == 1


def test_a_truncation_is_found_against_the_bucket_when_the_file_is_gone(
    chain_db: ChainDatabase, verify_command: CliRunner, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    environment = s3_server.environment(bucket)
    ids = write_rows(chain_db, 5)
    anchored = verify_command.invoke(cli.app, ["audit", "anchor"], env=environment)
    assert anchored.exit_code == 0, anchored.output
    assert f"anchored row {ids[-1]}" in anchored.stdout and f"s3://{bucket}/" in anchored.stdout

    # Whoever can write the machine removes the newest rows and the anchor file with them.
    tamper(chain_db, delete(AuditLog).where(AuditLog.id >= ids[3]))
    chain_db.anchors.path.unlink()
    without_bucket = verify_command.invoke(cli.app, ["audit", "verify"])
    assert without_bucket.exit_code == 0, "the machine alone can no longer tell"

    result = verify_command.invoke(cli.app, ["audit", "verify"], env=environment)

    assert result.exit_code == 1, result.output
    assert (
        f"the log ends at row {ids[2]}, but row {ids[-1]} was anchored at" in result.stderr
        and "rows were removed from the end (truncated)" in result.stderr
    )
    assert "client" not in result.output and "203.0.113.7" not in result.output


def test_a_deleted_anchor_object_is_still_read(
    chain_db: ChainDatabase, tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = _settings(chain_db, tmp_path, s3_server, bucket)
    ids = write_rows(chain_db, 4)
    anchor = anchor_head(chain_db.engine, anchor_store(settings), KEYRING.current)
    assert anchor is not None
    # A delete without a version id adds a delete marker: the object vanishes from a plain
    # listing, never from the versions verification reads.
    s3_server.client().delete_object(Bucket=bucket, Key=anchor_key("clinic-a/", anchor))
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="clinic-a/anchors/")
    assert listed.get("KeyCount", 0) == 0
    tamper(chain_db, delete(AuditLog).where(AuditLog.id == ids[-1]))
    chain_db.anchors.path.unlink()

    with transaction(chain_db.sessions) as session:
        report = verify_chain(session, anchors=anchor_store(settings), keyring=KEYRING)

    assert not report.ok
    assert report.problem is not None and "(truncated)" in report.problem


def test_an_object_in_the_anchors_folder_that_is_no_anchor_fails_verification(
    chain_db: ChainDatabase, tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = _settings(chain_db, tmp_path, s3_server, bucket)
    write_rows(chain_db, 2)
    s3_server.client().put_object(
        Bucket=bucket,
        Key="clinic-a/anchors/00000000000000000002-forged.json",
        Body=b"{}",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=utcnow() + timedelta(days=1),
    )

    with transaction(chain_db.sessions) as session:
        report = verify_chain(session, anchors=anchor_store(settings), keyring=KEYRING)

    assert not report.ok
    assert report.problem == (
        f"s3://{bucket}/clinic-a/anchors/00000000000000000002-forged.json (version "
        f"{_version(s3_server, bucket)}) is not an anchor (damaged)"
    )


def test_an_unreachable_bucket_fails_verification_saying_so(
    chain_db: ChainDatabase, tmp_path: Path, s3_server: S3Server
) -> None:
    gone = S3Server(f"http://127.0.0.1:{free_port()}")
    settings = make_settings(
        tmp_path,
        audit_anchor_path=str(chain_db.anchors.path),
        send_timeout_seconds=1,
        reconcile_after_seconds=2,
        **gone.settings("nowhere"),
    )
    write_rows(chain_db, 2)

    with transaction(chain_db.sessions) as session:
        report = verify_chain(session, anchors=anchor_store(settings), keyring=KEYRING)

    assert not report.ok
    assert report.problem == (
        "the anchors in s3://nowhere/anchors/ could not be read: S3 could not be reached"
    )


def _version(server: S3Server, bucket: str) -> str:
    versions = server.client().list_object_versions(Bucket=bucket)["Versions"]
    return str(versions[0]["VersionId"])


def test_the_lock_mode_and_retention_are_the_settings(
    chain_db: ChainDatabase, tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = make_settings(
        tmp_path,
        audit_anchor_path=str(chain_db.anchors.path),
        **s3_server.settings(
            bucket, audit_anchor_s3_lock_mode="GOVERNANCE", audit_anchor_s3_retention_days=30
        ),
    )
    write_rows(chain_db, 1)

    anchor = anchor_head(chain_db.engine, anchor_store(settings), KEYRING.current)

    assert anchor is not None
    head = s3_server.client().head_object(Bucket=bucket, Key=anchor_key("", anchor))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert abs(until - (utcnow() + timedelta(days=30))) < timedelta(minutes=5)


def test_an_anchor_the_bucket_refuses_is_kept_in_the_file_and_said(
    chain_db: ChainDatabase, verify_command: CliRunner
) -> None:
    ids = write_rows(chain_db, 2)
    gone = S3Server(f"http://127.0.0.1:{free_port()}")
    environment = gone.environment("nowhere", send_timeout_seconds=1, reconcile_after_seconds=2)

    result = verify_command.invoke(cli.app, ["audit", "anchor"], env=environment)

    assert result.exit_code == 1
    assert "audit.anchor_not_in_bucket" in result.stderr  # the log line monitoring sees
    assert result.stderr.endswith(
        f"proirp: the head is anchored in {chain_db.anchors.path}, but the S3 bucket refused it: "
        "S3 could not be reached\n"
    )
    latest = chain_db.anchors.latest()
    assert latest is not None and latest.row_id == ids[-1]
    assert SECRET_ACCESS_KEY not in result.output
