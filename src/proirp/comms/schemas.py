"""Request and response bodies for /comms and /campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from proirp.comms.models import Campaign
from proirp.kit.input import RequestBody, StoredIn

MAX_BULK_RECIPIENTS = 10_000
RecordId = Annotated[str, StringConstraints(max_length=32)]


class CommCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=32)
    type: Literal["sms", "email"]
    body: str | None = Field(default=None, max_length=100_000)
    subject: str | None = Field(default=None, max_length=500)
    html: str | None = Field(default=None, max_length=1_000_000)
    # Our template id, or (email) the SendGrid dynamic template id one of ours wraps.
    template_id: str | None = Field(default=None, max_length=40)
    variables: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _body_or_template(self) -> CommCreate:
        if not self.body and not self.html and not self.template_id:
            raise ValueError("give a body or a template_id")
        if self.template_id and (self.body or self.html or self.subject):
            raise ValueError("give a body (and subject) or a template_id, not both")
        if self.type == "sms" and (self.subject is not None or self.html is not None):
            raise ValueError("subject and html are for email only")
        return self


class BulkFilter(RequestBody):
    model_config = ConfigDict(extra="forbid")

    sms_consent: bool | None = None
    email_consent: bool | None = None
    q: str | None = Field(default=None, max_length=100)


class BulkCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    type: Literal["sms", "email"]
    client_ids: list[RecordId] | None = Field(default=None, max_length=MAX_BULK_RECIPIENTS)
    filter: BulkFilter | None = None
    body: str | None = Field(default=None, max_length=100_000)
    subject: str | None = Field(default=None, max_length=500)
    html: str | None = Field(default=None, max_length=1_000_000)
    template_id: str | None = Field(default=None, max_length=40)
    name: Annotated[str, StoredIn(Campaign.name)] | None = None

    @model_validator(mode="after")
    def _who_and_what(self) -> BulkCreate:
        if (self.client_ids is None) == (self.filter is None):
            raise ValueError("give either client_ids or filter")
        if self.client_ids is not None and not self.client_ids:
            raise ValueError("client_ids is empty")
        if not self.body and not self.html and not self.template_id:
            raise ValueError("give a body or a template_id")
        if self.template_id and (self.body or self.html or self.subject):
            raise ValueError("give a body (and subject) or a template_id, not both")
        if self.type == "sms" and (self.subject is not None or self.html is not None):
            raise ValueError("subject and html are for email only")
        return self


class CommEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    source: str
    error_code: str | None
    reason: str | None
    occurred_at: datetime


class CommOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str | None
    user_id: str
    campaign_id: str | None
    type: str
    to: str
    status: str
    status_reason: str | None
    provider: str | None
    provider_message_id: str | None
    error_code: str | None
    segments: int | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class CampaignOut(BaseModel):
    id: str
    name: str | None
    type: str
    status: str
    total: int
    counts: dict[str, int]
    progress: int
    created_at: datetime
