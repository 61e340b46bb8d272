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

from proirp.concurrency import MAX_CONCURRENT_REQUESTS, THREADS
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
