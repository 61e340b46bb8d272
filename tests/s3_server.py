"""A local S3 server for the tests: moto's server mode (`moto_server`, from PyPI), a process of
its own on a free port, spoken to over real HTTP by boto3, as AWS would be. Nothing is mocked
inside the test process."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from tests.live import BIN, free_port, wait_until

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY_ID = "AKIAPROIRPTEST000001"
SECRET_ACCESS_KEY = "proirp-test-s3-secret-access-key"
REGION = "us-east-1"


@dataclass
class S3Server:
    url: str

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )

    def bucket(self, *, locked: bool = True) -> str:
        """A new bucket, with Object Lock (and so versioning) unless `locked` is False."""
        name = f"proirp-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
        return name

    def settings(self, bucket: str, **more: Any) -> dict[str, Any]:
        """The settings that point the product at `bucket` on this server."""
        return {
            "audit_anchor_s3_bucket": bucket,
            "aws_endpoint_url_s3": self.url,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "aws_region": REGION,
            **more,
        }

    def environment(self, bucket: str, **more: Any) -> dict[str, str]:
        """The same, as environment variables for a `proirp` command."""
        return {name.upper(): str(value) for name, value in self.settings(bucket, **more).items()}


def _started(tmp: Path, **environment: str) -> Iterator[S3Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / "moto.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (moto's console script, from our virtualenv)
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **environment},
        )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        if not wait_until(up, timeout=60, interval=0.1):
            raise RuntimeError(f"moto_server did not start:\n{(tmp / 'moto.log').read_text()}")
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One local S3 server for the session; each test makes buckets of its own."""
    yield from _started(tmp_path_factory.mktemp("s3"))


@dataclass
class GuardedBucket:
    """A bucket with Object Lock on a server that checks IAM, and a user who may only read
    (s3:Get*, s3:List*): what a policy missing s3:PutObject looks like."""

    server: S3Server
    bucket: str
    access_key_id: str
    secret_access_key: str

    def settings(self) -> dict[str, Any]:
        return self.server.settings(
            self.bucket,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


# The requests the set-up below makes before the server starts checking every one.
_SET_UP_REQUESTS = 4


@pytest.fixture(scope="session")
def guarded_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedBucket]:
    tmp = tmp_path_factory.mktemp("s3-iam")
    for server in _started(tmp, INITIAL_NO_AUTH_ACTION_COUNT=str(_SET_UP_REQUESTS)):
        bucket = server.bucket()
        iam = boto3.client(
            "iam",
            endpoint_url=server.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )
        iam.create_user(UserName="reader")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:Get*", "s3:List*"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        iam.put_user_policy(
            UserName="reader", PolicyName="read-only", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        yield GuardedBucket(server, bucket, key["AccessKeyId"], key["SecretAccessKey"])
