"""A local S3 server for the tests: moto's server mode (`moto_server`, from PyPI), a process of
its own on a free port, spoken to over real HTTP by boto3, as AWS would be. Nothing is mocked
inside the test process."""

from __future__ import annotations

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


def _started(tmp: Path) -> Iterator[S3Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / "moto.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (moto's console script, from our virtualenv)
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
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
