"""Sandbox mode only: what would have been sent (the mounted sandbox's SMS and email ledgers),
and a client's text made up by staff to try the inbox. Without sandbox mode it does not exist.

The ledgers are the sandbox's copies of what the product sent it: in sandbox mode nothing
leaves the machine, but the texts may still be made of real-looking data, so the page is
for admins and the front desk (who see every client: the ledgers hold every client's
messages), and its reads are audited."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.config.connections import twilio_connection
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import NotFound, ValidationFailed
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, SendingPage, field, page_router

router = page_router()
SHOWN = 100
BODY_MAX = 1600
DONE = {"texted": "The sandbox delivered the client's text to the product."}


def _sandbox(request: Request) -> Any:
    sandbox = getattr(request.app.state, "sandbox", None)
    if sandbox is None:
        raise NotFound("The sandbox is not running: real providers are configured.")
    return sandbox


@router.get("/sandbox")
def outbox(
    request: Request,
    user: SendingPage,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    done: str | None = None,
) -> Response:
    sandbox = _sandbox(request)
    texts = sandbox.twilio.ledger(include_inbound=True)[-SHOWN:][::-1]
    emails = sandbox.sendgrid.ledger()[-SHOWN:][::-1]
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.SANDBOX_OUTBOX_VIEWED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"text_messages": len(texts), "email_messages": len(emails)},
    )
    return render(
        request,
        "sandbox.html",
        user=user,
        texts=texts,
        emails=emails,
        practice_number=twilio_connection(settings).from_number,
        notice=DONE.get(done or ""),
    )


@router.post("/sandbox/inbound")
def client_texts(
    request: Request, user: SendingPage, form: CheckedForm, settings: SettingsDep
) -> Response:
    """As if a client texted the practice's number: through the sandbox, which signs and posts
    the webhook to the product exactly as Twilio would."""
    _sandbox(request)
    number, body = field(form, "from"), field(form, "body")
    problems = {}
    if not number or len(number) > 32:
        problems["from"] = "enter the client's phone number"
    if not body or len(body) > BODY_MAX:
        problems["body"] = f"enter the text, up to {BODY_MAX} characters"
    if problems:
        raise ValidationFailed("The text was not sent.", fields=problems)
    connection = twilio_connection(settings)
    answer = httpx.post(
        f"{connection.api_base}/_sandbox/inbound",
        json={"from": number, "to": connection.from_number, "body": body},
        auth=(connection.account_sid, connection.auth_token),
        timeout=30,
    )
    if answer.status_code == 400:
        raise ValidationFailed("The text was not sent.", fields={"from": "not a phone number"})
    answer.raise_for_status()
    return RedirectResponse(f"{PREFIX}/sandbox?done=texted", status_code=303)
