"""The admission limit: requests past it are answered at once, 503 `overloaded` in the product's
error shape with Retry-After; idle connections do not count, finished requests free their place."""

from __future__ import annotations

import anyio
import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proirp.concurrency import MAX_CONCURRENT_REQUESTS, MAX_CONCURRENT_WEBHOOKS, THREADS
from proirp.kit.admission import AdmissionLimit


async def _past_the_limit() -> None:
    release = anyio.Event()
    entered = 0

    async def slow(_request: Request) -> JSONResponse:
        nonlocal entered
        entered += 1
        await release.wait()
        return JSONResponse({"ok": True})

    limited = AdmissionLimit(Starlette(routes=[Route("/", slow)]), limit=2)
    transport = httpx.ASGITransport(app=limited)
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def call() -> None:
            answers.append(await client.get("/"))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            group.start_soon(call)
            while entered < 2:
                await anyio.sleep(0.01)
            refused = await client.get("/")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["ok"] is False
            assert refused.json()["error"]["code"] == "overloaded"
            release.set()
        assert [a.status_code for a in answers] == [200, 200]
        assert limited.in_flight == 0
        assert (await client.get("/")).status_code == 200


def test_past_the_limit_is_answered_at_once_and_a_finished_request_frees_its_place() -> None:
    anyio.run(_past_the_limit)


def test_the_app_admits_fewer_requests_at_once_than_it_has_threads(app: FastAPI) -> None:
    (admission,) = [m for m in app.user_middleware if m.cls is AdmissionLimit]
    assert admission.kwargs["limit"] == MAX_CONCURRENT_REQUESTS < THREADS
    assert app.user_middleware[0] is admission  # outermost: a refusal costs nothing else


async def _webhooks_beside_full_staff_places(limit: int, webhook_limit: int) -> None:
    release = anyio.Event()
    entered = {"staff": 0, "webhooks": 0}

    async def staff(_request: Request) -> JSONResponse:
        entered["staff"] += 1
        await release.wait()
        return JSONResponse({"ok": True})

    async def webhook(_request: Request) -> JSONResponse:
        entered["webhooks"] += 1
        await release.wait()
        return JSONResponse({"ok": True})

    routes = [Route("/clients", staff), Route("/webhooks/twilio/status", webhook, methods=["POST"])]
    limited = AdmissionLimit(Starlette(routes=routes), limit=limit, webhook_limit=webhook_limit)
    transport = httpx.ASGITransport(app=limited)
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def call(method: str, path: str) -> None:
            answers.append(await client.request(method, path))

        async with anyio.create_task_group() as group:
            for _ in range(limit):  # every staff place taken, and held
                group.start_soon(call, "GET", "/clients")
            while entered["staff"] < limit:
                await anyio.sleep(0.01)
            assert (await client.get("/clients")).status_code == 503
            for _ in range(webhook_limit):  # callbacks are still let in, up to their own limit
                group.start_soon(call, "POST", "/webhooks/twilio/status")
            while entered["webhooks"] < webhook_limit:
                await anyio.sleep(0.01)
            refused = await client.post("/webhooks/twilio/status")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/json"
            assert refused.json()["error"]["code"] == "overloaded"
            release.set()
        assert [a.status_code for a in answers] == [200] * (limit + webhook_limit)
        assert (limited.in_flight, limited.webhooks_in_flight) == (0, 0)


def test_webhooks_are_admitted_while_staff_requests_fill_every_place(app: FastAPI) -> None:
    (admission,) = [m for m in app.user_middleware if m.cls is AdmissionLimit]
    limit, webhook_limit = admission.kwargs["limit"], admission.kwargs["webhook_limit"]
    assert limit == MAX_CONCURRENT_REQUESTS
    assert webhook_limit == MAX_CONCURRENT_WEBHOOKS > 0
    assert limit + webhook_limit < THREADS  # a thread for each, and some to spare
    anyio.run(_webhooks_beside_full_staff_places, limit, webhook_limit)
