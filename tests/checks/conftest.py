"""The checks' fixtures: the local S3 server (moto's server mode, a process of its own)."""

from tests.s3_server import guarded_bucket as guarded_bucket
from tests.s3_server import s3_server as s3_server
