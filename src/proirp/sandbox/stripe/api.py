"""Stripe's `GET /v1/balance` (Retrieve balance), as the official SDK calls it:
`StripeClient(key, base_addresses={"api": "<sandbox root>/stripe"}).v1.balance.retrieve()`.

Requests are read by hand so every refusal comes back in Stripe's error shape. Every answer
carries a Request-Id, as Stripe's do (the SDK quotes it in its errors).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.stripe.state import StripeSandbox

BALANCE_PATH = "/v1/balance"


def balance_resource(*, livemode: bool) -> dict[str, object]:
    """An empty balance in USD, in Stripe's shape."""
    funds = [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
    return {
        "object": "balance",
        "available": funds,
        "pending": [dict(entry) for entry in funds],
        "livemode": livemode,
    }


def balance_router(sandbox: StripeSandbox) -> APIRouter:
    """The Retrieve balance route."""
    router = APIRouter(route_class=SandboxRoute, tags=["stripe"])

    @router.get(BALANCE_PATH)
    async def retrieve_balance(request: Request) -> Response:
        request_id = {"Request-Id": "req_" + secrets.token_urlsafe(10)}
        await sandbox.admit(request, request_id)
        return JSONResponse(balance_resource(livemode=sandbox.livemode), headers=request_id)

    return router
