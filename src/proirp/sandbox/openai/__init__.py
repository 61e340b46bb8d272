"""The OpenAI part of the provider sandbox: List models, enough to check that a key works.

Point the official SDK at it with `OpenAI(api_key=…, base_url="<sandbox root>/openai/v1")`.
"""

from __future__ import annotations

from fastapi import APIRouter

from proirp.sandbox.keyed import keyed_router
from proirp.sandbox.openai.api import models_router
from proirp.sandbox.openai.errors import control_error
from proirp.sandbox.openai.state import OpenAISandbox

__all__ = ["OpenAISandbox", "openai_router"]


def openai_router(sandbox: OpenAISandbox) -> APIRouter:
    """OpenAI's API tree plus the sandbox's /_sandbox control routes (config, stats, reset; the
    same bearer key as the API), without a prefix."""
    return keyed_router(sandbox, models_router(sandbox), control_error)
