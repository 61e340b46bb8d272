"""Request and response bodies for /comms and /campaigns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from proirp.comms.models import Campaign
from proirp.kit.errors import FieldProblem
from proirp.kit.input import RequestBody, StoredIn
from proirp.kit.time import utcnow

MAX_BULK_RECIPIENTS = 10_000
MAX_SCHEDULE_AHEAD = timedelta(days=90)
RecordId = Annotated[str, StringConstraints(max_length=32)]


def _future_send_at(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    now = utcnow()
    if value <= now:
        raise ValueError("must be in the future")
    if value > now + MAX_SCHEDULE_AHEAD:
        raise ValueError(f"must be at most {MAX_SCHEDULE_AHEAD.days} days ahead")
    return value.astimezone(UTC)


SendAt = Annotated[
    AwareDatetime | None,
    AfterValidator(_future_send_at),
    Field(
        default=None,
        description=(
            "Send it later, at this time (ISO 8601 with an offset, in the future, at most 90 days "
            "ahead); absent: now. The guard runs now and again when it goes."
        ),
        examples=["2030-01-15T15:00:00Z"],
    ),
]


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
    send_at: SendAt = None

    @model_validator(mode="after")
    def _body_or_template(self) -> CommCreate:
        _content_problem(self.type, self.body, self.subject, self.html, self.template_id)
        return self


def _content_problem(
    kind: str, body: str | None, subject: str | None, html: str | None, template_id: str | None
) -> None:
    """What a message says: its text or a template, not both; a subject and HTML for email."""
    if not body and not html and not template_id:
        raise FieldProblem("body", "give a body or a template_id")
    if template_id and (body or html or subject):
        raise FieldProblem("template_id", "give a body (and subject) or a template_id, not both")
    if kind == "sms" and subject is not None:
        raise FieldProblem("subject", "is for email only")
    if kind == "sms" and html is not None:
        raise FieldProblem("html", "is for email only")


class BulkFilter(RequestBody):
    model_config = ConfigDict(extra="forbid")

    sms_consent: bool | None = None
    email_consent: bool | None = None
    q: str | None = Field(default=None, max_length=100)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        # Spaces alone would be no filter at all: the campaign would go to every client.
        if value and not value.strip():
            raise ValueError("must hold a name to match, or be left out")
        return value


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
    send_at: SendAt = None

    @model_validator(mode="after")
    def _who_and_what(self) -> BulkCreate:
        if (self.client_ids is None) == (self.filter is None):
            raise FieldProblem("client_ids", "give either client_ids or filter")
        if self.client_ids is not None and not self.client_ids:
            raise FieldProblem("client_ids", "is empty")
        _content_problem(self.type, self.body, self.subject, self.html, self.template_id)
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
    client_id: str | None = Field(
        description="Null for an inbound message from a number that matches no client, or "
        "several (staff attach it), and for email the product sends to staff."
    )
    user_id: str | None = Field(
        description="Who sent it; null for an inbound message and for what the product sent "
        "by itself."
    )
    campaign_id: str | None
    direction: str = Field(description="outbound | inbound")
    purpose: str | None = Field(
        description="Why the product sent it by itself: safety_reply | after_hours_reply | "
        "urgent_alert | staff_notice; null for staff's messages and campaigns."
    )
    type: str
    to: str
    from_: str | None = Field(
        alias="from", description="An inbound message's sender (the client's number)."
    )
    status: str
    status_reason: str | None
    provider: str | None
    provider_message_id: str | None
    error_code: str | None
    segments: int | None
    created_at: datetime
    send_at: datetime | None = Field(description="When it was scheduled to go; null: at once.")
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
    send_at: datetime | None = Field(description="When it was scheduled to start; null: at once.")
    created_at: datetime
