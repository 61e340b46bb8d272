"""Request and response bodies for /templates."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from proirp.comms.models import Template
from proirp.kit.input import RequestBody, StoredIn

VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
SENDGRID_TEMPLATE_ID = re.compile(r"^d-[0-9a-f]{32}$")
MAX_VARIABLES = 100

TemplateName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), StoredIn(Template.name)
]
TemplateType = Literal["sms", "email"]


class VariableIn(RequestBody):
    """A variable a template may use, and whether its value is PHI."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    phi: bool = Field(strict=True)

    @field_validator("name")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not VARIABLE_NAME.fullmatch(value):
            raise ValueError("must be a dotted lower-case name such as client.first_name")
        return value


class TemplateFields(RequestBody):
    model_config = ConfigDict(extra="forbid")

    # Template text is kept exactly as sent: whitespace can matter in a message.
    subject: str | None = Field(default=None, max_length=500)
    body: str | None = Field(default=None, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)
    variables: list[VariableIn] = Field(default_factory=list, max_length=MAX_VARIABLES)
    sendgrid_template_id: Annotated[str, StoredIn(Template.sendgrid_template_id)] | None = Field(
        default=None, json_schema_extra={"pattern": SENDGRID_TEMPLATE_ID.pattern}
    )

    @field_validator("sendgrid_template_id")
    @classmethod
    def _sendgrid_id(cls, value: str | None) -> str | None:
        if value is not None and not SENDGRID_TEMPLATE_ID.fullmatch(value):
            raise ValueError("must be a SendGrid dynamic template id: d- and 32 hex digits")
        return value


class TemplateCreate(TemplateFields):
    name: TemplateName
    type: TemplateType


class TemplateUpdate(TemplateFields):
    # Optional here; the service refuses null for either, and any change of type.
    name: TemplateName | None = None
    type: TemplateType | None = None


class VariableOut(BaseModel):
    name: str
    phi: bool


class TemplateOut(BaseModel):
    id: str
    name: str
    type: str
    subject: str | None
    body: str | None
    html: str | None
    variables: list[VariableOut]
    sendgrid_template_id: str | None
    created_at: datetime
    updated_at: datetime
