"""The Messages routes of Twilio's REST API 2010-04-01, as the official SDK calls them.

Requests are read by hand (not by FastAPI's validation) so that every refusal comes back in
Twilio's error shape, never as FastAPI's 422.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.knobs import dropped_answer
from proirp.sandbox.twilio.errors import TwilioApiError
from proirp.sandbox.twilio.listing import build_page, parse_list_query
from proirp.sandbox.twilio.messages import UPDATE_PARAMETERS, parse_create_form
from proirp.sandbox.twilio.state import TwilioSandbox

MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"


async def _form_items(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def messages_router(sandbox: TwilioSandbox) -> APIRouter:
    """Routes for CreateMessage, ListMessage, FetchMessage, UpdateMessage and DeleteMessage."""
    router = APIRouter(route_class=SandboxRoute, tags=["twilio"])

    async def admit(request: Request, account_sid: str) -> None:
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        sandbox.authenticate(request.headers.get("authorization"), account_sid)

    @router.post(MESSAGES_PATH, status_code=201)
    async def create_message(AccountSid: str, request: Request) -> Response:
        arrived = time.monotonic()  # before the latency: when the request reached us
        await admit(request, AccountSid)
        items = await _form_items(request)
        sandbox.note_send(dict(items).get("From", "").strip(), arrived=arrived)
        outage = sandbox.take_outage()
        if outage is not None:
            code = {429: 20429, 500: 20500}.get(outage.status, 20503)
            raise TwilioApiError(code, status=outage.status, headers=outage.headers())
        failure = sandbox.take_failure()
        if failure is not None:
            raise TwilioApiError(20500 if failure == 500 else 20503, status=failure)
        try:
            resource = sandbox.create_message(parse_create_form(items))
        except TwilioApiError as error:
            if error.status != 429:
                sandbox.count("rejected_4xx")
            raise
        if sandbox.take_reset():
            # The message exists and will be delivered; the answer is cut off half-way.
            return dropped_answer(201, bytes(JSONResponse(resource).body))
        hold = sandbox.take_timeout()
        if hold is not None:
            # The message exists and will be delivered; only the answer is late.
            await asyncio.sleep(hold)
        return JSONResponse(resource, status_code=201)

    @router.get(MESSAGES_PATH)
    async def list_messages(AccountSid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        query = parse_list_query(request.query_params)
        page = build_page(sandbox.snapshot_newest_first(), query, account_sid=AccountSid)
        return JSONResponse(page)

    @router.get(MESSAGE_PATH)
    async def fetch_message(AccountSid: str, Sid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        return JSONResponse(sandbox.fetch(Sid))

    @router.post(MESSAGE_PATH)
    async def update_message(AccountSid: str, Sid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        items = dict(await _form_items(request))
        for name in items:
            if name not in UPDATE_PARAMETERS:
                raise TwilioApiError(20001, name=name)
        resource = sandbox.update_message(Sid, body=items.get("Body"), status=items.get("Status"))
        return JSONResponse(resource)

    @router.delete(MESSAGE_PATH, status_code=204)
    async def delete_message(AccountSid: str, Sid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        sandbox.delete_message(Sid)
        return Response(status_code=204)

    return router
