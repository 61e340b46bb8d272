"""SendGrid's v3 Mail Send route, as the official SDK calls it (`POST <host>/v3/mail/send`).

The body is read by hand (not by FastAPI's validation) so that every refusal comes back in
SendGrid's error shape, never as FastAPI's 422. Checks run in the live API's order: key, its
scopes, rate, then the request itself.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time

from fastapi import APIRouter, Request, Response

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.knobs import dropped_answer
from proirp.sandbox.sendgrid.errors import (
    FieldError,
    SendGridApiError,
    server_fault,
    too_many_requests,
)
from proirp.sandbox.sendgrid.state import SendGridSandbox
from proirp.sandbox.sendgrid.validation import parse_mail_send

MAIL_SEND_PATH = "/v3/mail/send"


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise SendGridApiError(400, [FieldError("Bad Request")]) from None
    try:
        body: object = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise SendGridApiError(400, [FieldError("Bad Request")]) from None
    return body


def mail_router(sandbox: SendGridSandbox) -> APIRouter:
    """The Mail Send route."""
    router = APIRouter(route_class=SandboxRoute, tags=["sendgrid"])

    @router.post(MAIL_SEND_PATH, status_code=202)
    async def send_mail(request: Request) -> Response:
        arrived = time.monotonic()  # before the latency: when the request reached us
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        sandbox.count("requests")
        try:
            sandbox.authenticate(request.headers.get("authorization"))
        except SendGridApiError:
            sandbox.count("rejected_401")
            raise
        sandbox.require_scope("mail.send")
        sandbox.note_send(arrived=arrived)
        outage = sandbox.take_outage()
        if outage is not None:
            if outage.status == 429:
                raise too_many_requests(outage.headers())
            fault = server_fault(outage.status)
            fault.headers.update(outage.headers())
            raise fault
        sandbox.admit_rate()
        failure = sandbox.take_failure()
        if failure is not None:
            raise server_fault(failure)
        try:
            mail = parse_mail_send(
                await _json_body(request), template_exists=sandbox.has_template, now=time.time()
            )
        except SendGridApiError:
            sandbox.count("rejected_4xx")
            raise
        x_message_id = sandbox.accept(mail)
        if sandbox.take_reset():
            # The mail is accepted and its events will follow; the answer is cut off half-way.
            return dropped_answer(202, b" " * 64, {"X-Message-Id": x_message_id})
        hold = sandbox.take_timeout()
        if hold is not None:
            # The mail is accepted and its events will follow; only the answer is late.
            await asyncio.sleep(hold)
        return Response(status_code=202, headers={"X-Message-Id": x_message_id})

    return router
