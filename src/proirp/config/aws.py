"""The settings of the audit trail kept off the machine: an S3 bucket with Object Lock, and the
standard AWS variables (a part of `Settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, field_validator, model_validator


class AwsS3Settings(BaseModel):
    # Set: every anchor also goes to this bucket, and `proirp audit export --s3` writes there.
    audit_anchor_s3_bucket: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
    )
    # Keys start with this (e.g. "proirp/clinic-a/"); anchors under anchors/, archives under
    # archives/, the integration check's probes under probes/.
    audit_anchor_s3_prefix: str = Field(default="", pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$")
    # COMPLIANCE: nobody, AWS's root user included, can delete or shorten it before it expires.
    audit_anchor_s3_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    # Six years (45 CFR 164.316(b)(2)), leap days included.
    audit_anchor_s3_retention_days: int = Field(default=2192, ge=1, le=36500)
    # Unset: boto3's own chain (an instance or task role, ~/.aws); set both or neither.
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_region: str | None = None
    aws_default_region: str | None = None
    # An S3-compatible server instead of AWS's own (MinIO, a local test server).
    aws_endpoint_url_s3: AnyHttpUrl | None = None

    @field_validator(
        "audit_anchor_s3_bucket",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region",
        "aws_default_region",
        "aws_endpoint_url_s3",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _key_pair(self) -> AwsS3Settings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY together, or neither")
        return self

    @property
    def aws_region_name(self) -> str:
        """AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1."""
        return self.aws_region or self.aws_default_region or "us-east-1"
