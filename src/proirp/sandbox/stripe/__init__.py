"""The Stripe part of the provider sandbox: Retrieve balance, enough to check that a key works.

Point the official SDK at it with
`StripeClient(key, base_addresses={"api": "<sandbox root>/stripe"})`.
"""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.keyed import keyed_router
from proirp.sandbox.stripe.api import balance_router
from proirp.sandbox.stripe.errors import control_error
from proirp.sandbox.stripe.state import StripeSandbox

__all__ = ["StripeSandbox", "stripe_router"]


def stripe_router(sandbox: StripeSandbox) -> APIRouter:
    """Stripe's API tree plus the sandbox's /_sandbox control routes (config, stats, reset; the
    same secret key as the API), without a prefix."""
    return keyed_router(sandbox, balance_router(sandbox), control_error)
