"""The sandbox's own SendGrid control routes under /_sandbox: knobs, ledger, stats, reset, dynamic
templates, and simulated recipient actions (an unsubscribe, a spam report, …) as events."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control
from proirp.sandbox.sendgrid.errors import control_error
from proirp.sandbox.sendgrid.events import EVENT_NAMES
from proirp.sandbox.sendgrid.knobs import NULLABLE_KNOBS, KnobsUpdate
from proirp.sandbox.sendgrid.state import SendGridSandbox
from proirp.sandbox.sendgrid.templates import unsupported_tags

log = structlog.get_logger(__name__)


class TemplateCreate(BaseModel):
    """POST /_sandbox/templates: a dynamic template's active version."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="sandbox template", min_length=1)
    subject: str = Field(min_length=1)
    html: str = Field(min_length=1)
    text: str | None = None


class RecipientEvent(BaseModel):
    """POST /_sandbox/events: something a recipient did to a delivered copy.

    Keys beyond these go into the event as they are (e.g. "url" for a click, "reason" for a
    bounce, "asm_group_id" for a group unsubscribe).
    """

    model_config = ConfigDict(extra="allow")

    x_message_id: str = Field(min_length=1)
    email: str = Field(min_length=1)
    event: str


def control_router(sandbox: SendGridSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (same bearer key as the API)."""
    router = control.control_router(
        sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=control_error
    )

    @router.get("/ledger")
    async def ledger(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"messages": sandbox.ledger()})

    @router.get("/templates")
    async def list_templates(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"templates": sandbox.templates()})

    @router.post("/templates", status_code=201)
    async def create_template(request: Request) -> Response:
        control.admit(sandbox, request)
        template = await control.read_body(request, TemplateCreate, control_error)
        sources = [template.subject, template.html, template.text or ""]
        unsupported = sorted({tag for source in sources for tag in unsupported_tags(source)})
        if unsupported:
            raise control_error(
                400, "the sandbox renders only {{var}} and {{{var}}}: " + ", ".join(unsupported)
            )
        created = sandbox.create_template(
            name=template.name, subject=template.subject, html=template.html, text=template.text
        )
        return JSONResponse(created, status_code=201)

    @router.post("/events")
    async def post_event(request: Request) -> Response:
        control.admit(sandbox, request)
        action = await control.read_body(request, RecipientEvent, control_error)
        if action.event not in EVENT_NAMES:
            raise control_error(400, "event must be one of: " + ", ".join(sorted(EVENT_NAMES)))
        extra: dict[str, Any] = dict(action.model_extra or {})
        # In a thread: the app may be served by this very process and must be free to answer.
        result, events = await asyncio.to_thread(
            sandbox.post_event, action.x_message_id, action.email, action.event, extra
        )
        if result.status is None:
            log.warning(
                "sandbox.sendgrid.event_post_failed",
                x_message_id=action.x_message_id,
                event=action.event,
                error=result.error,
            )
            return JSONResponse(
                {"status": None, "events": events, "error": result.error}, status_code=502
            )
        return JSONResponse({"status": result.status, "events": events})

    return router
