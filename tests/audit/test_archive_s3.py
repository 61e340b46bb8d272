"""`proirp audit export --s3`: the archive goes to the bucket, locked like the anchors, never
written over; `proirp audit verify --archive` reads it back from there (a local S3 server, moto's,
in a process of its own)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from proirp import cli
from proirp.kit.time import set_clock, utcnow
from tests.audit.conftest import ChainDatabase
from tests.audit.test_archive import DAY_1, _three_days
from tests.s3_server import SECRET_ACCESS_KEY, S3Server


def _export_to_s3(runner: CliRunner, environment: dict[str, str]) -> tuple[int, str, str]:
    with set_clock(DAY_1 + timedelta(days=7)):
        result = runner.invoke(
            cli.app, ["audit", "export", "--since", "2031-03-03", "--s3"], env=environment
        )
    return result.exit_code, result.stdout, result.stderr


def test_an_archive_exported_to_the_bucket_is_locked_and_verifies_from_there(
    chain_db: ChainDatabase, verify_command: CliRunner, s3_server: S3Server, tmp_path: Path
) -> None:
    days = _three_days(chain_db)
    bucket = s3_server.bucket()
    environment = s3_server.environment(bucket, audit_anchor_s3_prefix="clinic-a/")

    code, stdout, stderr = _export_to_s3(verify_command, environment)

    assert code == 0, stderr
    assert f"exported 9 audit rows ({days[0][0]} to {days[2][-1]}) to s3://{bucket}/" in stdout
    url = stdout.strip().rsplit(" to ", 1)[1]
    key = url.removeprefix(f"s3://{bucket}/")
    assert key.startswith("clinic-a/archives/20310303T000000Z-20310310T090000Z-rows-")
    head = s3_server.client().head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > utcnow() + timedelta(days=2190)
    assert SECRET_ACCESS_KEY not in stdout + stderr

    by_key = verify_command.invoke(cli.app, ["audit", "verify", "--archive", key], env=environment)
    by_url = verify_command.invoke(cli.app, ["audit", "verify", "--archive", url], env=environment)

    for checked in (by_key, by_url):
        assert checked.exit_code == 0, checked.output
        assert "audit archive intact: 9 rows checked" in checked.stdout

    again, _, refused = _export_to_s3(verify_command, environment)
    assert again == 1
    assert "not stored in the bucket: an object with this key exists already" in refused


def test_a_tampered_copy_in_the_bucket_is_refused(
    chain_db: ChainDatabase, verify_command: CliRunner, s3_server: S3Server
) -> None:
    _three_days(chain_db)
    bucket = s3_server.bucket()
    environment = s3_server.environment(bucket)
    code, stdout, stderr = _export_to_s3(verify_command, environment)
    assert code == 0, stderr
    key = stdout.strip().rsplit(" to ", 1)[1].removeprefix(f"s3://{bucket}/")
    client = s3_server.client()
    lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines(keepends=True)
    # Someone puts a copy without its last two rows beside it.
    client.put_object(
        Bucket=bucket,
        Key="copy.jsonl",
        Body=b"".join([*lines[:-3], lines[-1]]),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=utcnow() + timedelta(days=1),
    )

    checked = verify_command.invoke(
        cli.app, ["audit", "verify", "--archive", "copy.jsonl"], env=environment
    )
    missing = verify_command.invoke(
        cli.app, ["audit", "verify", "--archive", "nothing-here.jsonl"], env=environment
    )

    assert checked.exit_code == 1
    assert "rows were removed from the end (truncated)" in checked.stderr
    assert missing.exit_code == 1
    assert "could not be read from S3: no such object" in missing.stderr


def test_export_to_the_bucket_needs_one(chain_db: ChainDatabase, verify_command: CliRunner) -> None:
    _three_days(chain_db)

    code, _, stderr = _export_to_s3(verify_command, {})
    both = verify_command.invoke(
        cli.app, ["audit", "export", "--since", "2031-03-03", "--s3", "--out", "x.jsonl"]
    )

    assert code == 1 and "--s3 needs AUDIT_ANCHOR_S3_BUCKET" in stderr
    assert both.exit_code == 1 and "give one of --out FILE or --s3" in both.stderr
