"""/openapi.json describes every operation: summary, 2xx body, an example, and its sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from proirp.app import openapi_document
from tests.test_route_roles import PROTECTED, PUBLIC

METHODS = ("get", "put", "post", "patch", "delete")
# Served, but not API calls: the provider sends the browser here after consent; a picture of a
# client's MMS is a file for the browser (an <img>), not a JSON answer.
NOT_DOCUMENTED = {
    ("GET", "/calendar/{provider}/callback"),
    ("GET", "/comms/{comm_id}/media/{media_id}"),
}
# FastAPI's own pages, and the staff UI's (HTML for people, not operations of this API).
FRAMEWORK_PAGES = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/",
    "/app/signin",
    "/app/signin/code",
}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return _resolve(document, document["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def _has_example(document: dict[str, Any], content: dict[str, Any]) -> bool:
    for media in content.values():
        if "example" in media or "examples" in media:
            return True
        if "examples" in _resolve(document, media.get("schema", {})):
            return True
    return False


DOCUMENT = openapi_document()
OPERATIONS = [pytest.param(m, p, op, id=f"{m} {p}") for m, p, op in _operations(DOCUMENT)]


def test_the_app_serves_this_document(api: TestClient) -> None:
    assert api.get("/openapi.json").json() == DOCUMENT


def test_every_operation_the_app_serves_is_documented_except_the_callback() -> None:
    documented = {(m, p) for m, p, _ in _operations(DOCUMENT)}
    expected = (set(PROTECTED) | set(PUBLIC)) - NOT_DOCUMENTED
    assert documented == {(m, p) for m, p in expected if p not in FRAMEWORK_PAGES}


def test_webhooks_unsubscribe_and_sandbox_stay_out(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    hidden = ("/webhooks/", "/unsubscribe/", "/sandbox")
    assert [p for p in paths if p.startswith(hidden)] == []


def test_the_bearer_scheme_is_declared() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["sessionCookie"]["in"] == "cookie"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_each_operation_says_what_it_does_and_answers(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation.get("summary"), "no summary"
    successes = {s: a for s, a in operation["responses"].items() if s.startswith("2")}
    assert successes, "no 2xx answer"
    for status, answer in successes.items():
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        assert schema, f"{status} has no body schema"
        assert _resolve(DOCUMENT, schema).get("properties"), f"{status} body is not described"
    request = operation.get("requestBody", {}).get("content", {})
    answers = [a.get("content", {}) for a in successes.values()]
    assert any(_has_example(DOCUMENT, c) for c in [request, *answers]), "no example"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_signed_in_operations_say_so_and_public_ones_do_not(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    security = operation.get("security", [])
    if (method, path) in PROTECTED:
        assert {"bearer": []} in security
        assert {"401", "403"} <= set(operation["responses"])
    else:
        assert (method, path) in PUBLIC
        assert security == []


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_every_error_answer_has_the_error_shape(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    for status, answer in operation["responses"].items():
        if status.startswith(("4", "5")) and (method, path) != ("GET", "/healthz"):
            schema = _resolve(DOCUMENT, answer["content"]["application/json"]["schema"])
            assert schema["properties"]["ok"].get("const") is False, status
            assert "error" in schema["required"], status
