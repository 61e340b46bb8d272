"""One place that turns every error into `{"ok": false, "error": {"code", "message", ...}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from proirp.kit.errors import AppError, FieldProblem
from proirp.kit.request_log import unhandled_error

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def located(error: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where a validation error is: its `loc`, and for a model's own check about one of its
    fields (FieldProblem), that field."""
    loc = tuple(error.get("loc", ()))
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem):
        loc = (*loc, problem.field)
    return loc


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or (str(loc[0]) if loc else "request")


def _validation_fields(exc: RequestValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            fields["body"] = "is not valid JSON"
            continue
        name = _field_name(located(error))
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        # Messages come from validators and pydantic, never the submitted value (it may be PHI).
        fields.setdefault(name, message)
    return fields


def refusal(refused: AppError) -> JSONResponse:
    """The answer to `refused`, returned by a handler instead of raised, so that what it wrote
    before refusing (an audit row, a count in the login limits) commits with the request."""
    return JSONResponse(refused.to_body(), status_code=refused.status_code, headers=refused.headers)


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return refusal(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _validation_fields(exc)
    summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
    body = AppError(f"invalid request: {summary}", code="validation_error", fields=fields)
    return JSONResponse(body.to_body(), status_code=422)


def allowed_methods(request: Request) -> str:
    """Every method served at this path (Starlette names only the first matching route's).

    Where paths overlap (`/comms/bulk` and `/comms/{comm_id}`), the one with the fewest
    parameters is the path the request named.
    """
    by_path: dict[str, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        if route.path and route.methods and compile_path(route.path)[0].match(request.url.path):
            by_path.setdefault(route.path, set()).update(route.methods)
    if not by_path:
        return ""
    named = min(by_path, key=lambda path: path.count("{"))
    return ", ".join(sorted(by_path[named]))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = AppError(str(exc.detail), code=code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return JSONResponse(body.to_body(), status_code=exc.status_code, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # kit.request_log answers errors raised inside it; this catches any raised around it.
    return unhandled_error(request.scope, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
