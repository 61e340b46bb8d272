"""Query parameters that take one value are given one: `?action=A&action=B` is refused with a
422 naming `action`, rather than answered for whichever value the framework happened to keep
(FastAPI keeps the last), which the caller cannot tell from the answer."""

from __future__ import annotations

from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from proirp.kit.errors import ValidationFailed

GIVEN_TWICE = "must be given once"

_single: dict[int, frozenset[str]] = {}  # a route's id → its single-valued query parameters


def takes_many(annotation: Any) -> bool:
    """Whether a parameter of this type takes a list of values (`list[str]`, `set[int] | None`)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(takes_many(arg) for arg in get_args(annotation) if arg is not NoneType)
    return (origin or annotation) in (list, set, frozenset, tuple)


def _single_valued(dependant: Dependant) -> set[str]:
    names = {
        field.alias
        for field in dependant.query_params
        if not takes_many(field.field_info.annotation)
    }
    for inner in dependant.dependencies:
        names |= _single_valued(inner)
    return names


def single_valued_query(route: APIRoute) -> frozenset[str]:
    """The query parameters `route` reads as one value each (worked out once a route)."""
    names = _single.get(id(route))
    if names is None:
        names = _single[id(route)] = frozenset(_single_valued(route.dependant))
    return names


def refuse_repeated_query(request: Request) -> None:
    """A dependency of every API route: a single-valued query parameter given more than once
    is refused, with a 422 naming it, before anything reads it."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    single = single_valued_query(route)
    fields = {
        name: GIVEN_TWICE
        for name in dict.fromkeys(request.query_params.keys())
        if name in single and len(request.query_params.getlist(name)) > 1
    }
    if fields:
        summary = "; ".join(f"{name}: {GIVEN_TWICE}" for name in fields)
        raise ValidationFailed(f"invalid request: {summary}", fields=fields)
