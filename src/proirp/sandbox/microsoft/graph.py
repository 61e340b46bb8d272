"""The Microsoft Graph routes the product calls: /me, events, calendarView and its delta, plus
OpenID Connect userinfo.

Mounted at `<root>/microsoft/graph`, the sandbox's `https://graph.microsoft.com`; the product's
Graph base is `<https root>/microsoft/graph/v1.0`. Requests are read by hand so that every
refusal comes back in Graph's error shape, never as FastAPI's 422. Checks run in Graph's order:
token, throttling (the next-N knob, the per-mailbox rate, faults, requests in flight), then the
request itself. Links in answers are absolute and built from the request. PATCH and DELETE on
an event honour `If-Match` (412 ErrorIrresolvableConflict once its etag has moved on).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.microsoft.errors import GraphError, unreadable_body
from proirp.sandbox.microsoft.query import (
    base_of,
    paging,
    param,
    preferences,
    view_of,
    window,
)
from proirp.sandbox.microsoft.state import MicrosoftSandbox
from proirp.sandbox.microsoft.subscriptions import validate
from proirp.sandbox.microsoft.tokens import Bearer

VERSION = "/v1.0"
GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false"


async def _json_body(request: Request) -> object:
    try:
        body: object = json.loads(await request.body() or b"null")
    except (UnicodeDecodeError, ValueError):
        raise unreadable_body() from None
    return body


def graph_router(sandbox: MicrosoftSandbox) -> APIRouter:
    """/v1.0/me, /v1.0/me/events[/{id}], /v1.0/me/calendarView[/delta] and /oidc/userinfo."""
    router = APIRouter(route_class=SandboxRoute, tags=["microsoft"])

    @asynccontextmanager
    async def admitted(request: Request) -> AsyncIterator[Bearer]:
        """Authenticate and admit a Graph request; it counts as in flight until the block ends."""
        sandbox.count("graph_requests")
        try:
            # Latency first: a real API makes you wait for its refusals too.
            await sandbox.pause()
            bearer = sandbox.bearer(request.headers.get("authorization"))
            sandbox.admit(bearer.account)
        except GraphError as error:
            sandbox.count_refusal(error.status)
            raise
        try:
            hold = sandbox.hold_seconds()
            if hold > 0:
                await asyncio.sleep(hold)
            yield bearer
        except GraphError as error:
            sandbox.count_refusal(error.status)
            raise
        finally:
            sandbox.leave(bearer.account)

    async def answer(
        request: Request,
        body: dict[str, object] | None,
        *,
        status: int = 200,
        applied: tuple[str, ...] = (),
    ) -> Response:
        hold = sandbox.take_timeout()
        if hold is not None:
            # The change is made; only the answer is late.
            await asyncio.sleep(hold)
        request_id = str(uuid.uuid4())
        headers = {
            "request-id": request_id,
            "client-request-id": request.headers.get("client-request-id") or request_id,
        }
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers, media_type=GRAPH_JSON)

    @router.get(VERSION + "/me")
    async def me(request: Request) -> Response:
        async with admitted(request) as bearer:
            view = view_of(request, base_of(request, 1))
            return await answer(request, sandbox.me(bearer, view))

    @router.post(VERSION + "/me/events")
    async def create_event(request: Request) -> Response:
        async with admitted(request) as bearer:
            view = view_of(request, base_of(request, 2))
            body = await _json_body(request)
            event = sandbox.create_event(bearer, body, view)
            return await answer(request, event, status=201, applied=view.applied)

    @router.get(VERSION + "/me/events/{event_id}")
    async def get_event(event_id: str, request: Request) -> Response:
        async with admitted(request) as bearer:
            view = view_of(request, base_of(request, 3))
            event = sandbox.get_event(bearer, event_id, view)
            return await answer(request, event, applied=view.applied)

    @router.patch(VERSION + "/me/events/{event_id}")
    async def update_event(event_id: str, request: Request) -> Response:
        async with admitted(request) as bearer:
            view = view_of(request, base_of(request, 3))
            body = await _json_body(request)
            if_match = request.headers.get("if-match")
            event = sandbox.update_event(bearer, event_id, body, view, if_match=if_match)
            return await answer(request, event, applied=view.applied)

    @router.delete(VERSION + "/me/events/{event_id}")
    async def delete_event(event_id: str, request: Request) -> Response:
        async with admitted(request) as bearer:
            sandbox.delete_event(bearer, event_id, if_match=request.headers.get("if-match"))
            return await answer(request, None, status=204)

    @router.get(VERSION + "/me/calendarView")
    async def calendar_view(request: Request) -> Response:
        async with admitted(request) as bearer:
            base = base_of(request, 2)
            view = view_of(request, base)
            params = dict(request.query_params)
            start, end = window(params)
            skip, top = paging(params)

            def next_link(skip_to: int) -> str:
                query = {
                    "startDateTime": param(params, "startDateTime") or "",
                    "endDateTime": param(params, "endDateTime") or "",
                    "$top": str(top),
                    "$skip": str(skip_to),
                }
                return f"{base}/me/calendarView?" + urlencode(query, safe="$:")

            page = sandbox.calendar_view(bearer, (start, end), skip, top, view, next_link)
            return await answer(request, page, applied=view.applied)

    @router.get(VERSION + "/me/calendarView/delta")
    async def delta(request: Request) -> Response:
        async with admitted(request) as bearer:
            view = view_of(request, base_of(request, 3))
            params = dict(request.query_params)
            skip_token, delta_token = param(params, "$skiptoken"), param(params, "$deltatoken")
            span = window(params) if skip_token is None and delta_token is None else None
            size_text = preferences(request).get("odata.maxpagesize", "")
            page_size = int(size_text) if size_text.isdigit() and int(size_text) > 0 else None
            page, applied_size = sandbox.delta(
                bearer,
                window=span,
                skip_token=skip_token,
                delta_token=delta_token,
                page_size=page_size,
                view=view,
            )
            applied = view.applied
            if page_size is not None:
                applied += (f"odata.maxpagesize={applied_size}",)
            return await answer(request, page, applied=applied)

    @router.post(VERSION + "/subscriptions")
    async def create_subscription(request: Request) -> Response:
        async with admitted(request) as bearer:
            body = await _json_body(request)
            subscription = sandbox.new_subscription(bearer, body)
        # The handshake: Graph calls the addresses back before it answers (off the lock).
        try:
            await asyncio.to_thread(validate, subscription)
        except GraphError as error:
            sandbox.count_refusal(error.status)
            raise
        context = f"{base_of(request, 1)}/$metadata#subscriptions/$entity"
        return await answer(request, sandbox.add_subscription(subscription, context), status=201)

    @router.patch(VERSION + "/subscriptions/{subscription_id}")
    async def renew_subscription(subscription_id: str, request: Request) -> Response:
        async with admitted(request) as bearer:
            body = await _json_body(request)
            context = f"{base_of(request, 2)}/$metadata#subscriptions/$entity"
            renewed = sandbox.renew_subscription(bearer, subscription_id, body, context)
            return await answer(request, renewed)

    @router.delete(VERSION + "/subscriptions/{subscription_id}")
    async def delete_subscription(subscription_id: str, request: Request) -> Response:
        async with admitted(request) as bearer:
            sandbox.delete_subscription(bearer, subscription_id)
            return await answer(request, None, status=204)

    @router.api_route("/oidc/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        async with admitted(request) as bearer:
            return await answer(request, sandbox.userinfo(bearer))

    return router
