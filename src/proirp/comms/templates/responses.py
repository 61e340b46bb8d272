"""Response bodies for /templates, as /openapi.json describes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from proirp.comms.templates.schemas import TemplateOut

_WHEN = "2030-01-15T15:00:00Z"
TEMPLATE_EXAMPLE: dict[str, Any] = {
    "id": "1a3c5e7f9b2d4f6a8c0e2b4d6f8a0c1e",
    "name": "Appointment reminder",
    "type": "sms",
    "subject": None,
    "body": "Hi {{ client.first_name }}, please call {{ practice.phone }}.",
    "html": None,
    "variables": [{"name": "client.first_name", "phi": True}],
    "sendgrid_template_id": None,
    "created_at": _WHEN,
    "updated_at": _WHEN,
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class TemplateAnswer(BaseModel):
    model_config = _examples({"ok": True, "template": TEMPLATE_EXAMPLE})

    ok: Literal[True]
    template: TemplateOut


class TemplateList(BaseModel):
    model_config = _examples({"ok": True, "templates": [TEMPLATE_EXAMPLE], "next_cursor": None})

    ok: Literal[True]
    templates: list[TemplateOut]
    next_cursor: str | None
