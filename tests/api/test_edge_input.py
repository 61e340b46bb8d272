"""Every operation of the API refuses a NUL character and a value longer than the reference allows,
in any field, path or query parameter, with a 422 naming it, and a value as long as allowed never
fails where it is stored: on SQLite and on PostgreSQL (which refuses NUL in text and enforces
column widths), never a 500.

Operations come from the API's own reference (/openapi.json), so a new one is checked as soon as
it is added."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.app import openapi_document
from proirp.kit.input import RequestBody, StoredIn
from tests.factories import Staff, create_client, create_staff
from tests.test_route_roles import PROTECTED

DOCUMENT = openapi_document()
COMPONENTS = DOCUMENT["components"]["schemas"]
NUL = "a\x00b"
# Text the API parses into something else (a date, a time): never stored as it came.
PARSED = {"date", "date-time"}
# Paths a body value takes in the request (keys, and 0 for the first item of a list).
Where = tuple[str | int, ...]


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


OPERATIONS = list(_operations())
LABELS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolved(COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]])
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return _resolved(options[0]) if len(options) == 1 else schema


# Stands for any key of a free object (no property can be named so).
ANY_KEY = "<any key>"


def text_fields(
    schema: dict[str, Any], where: Where = ()
) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Every place in a body that takes text: (where, its schema); free objects as (where, {})."""
    schema = _resolved(schema)
    kind = schema.get("type")
    if kind == "string" or "enum" in schema or "const" in schema:
        yield where, schema
    elif kind == "array":
        yield from text_fields(schema.get("items", {}), (*where, 0))
    elif kind == "object" and "properties" in schema:
        for name, inner in schema["properties"].items():
            yield from text_fields(inner, (*where, name))
    elif kind == "object" or not schema:
        yield (*where, ANY_KEY), {}  # a free object: any key, any value


def body_with(where: Where, value: Any) -> Any:
    if not where:
        return value
    head, rest = where[0], where[1:]
    inner = body_with(rest, value)
    return [inner] if isinstance(head, int) else {head: inner}


def dotted(where: Where) -> str:
    return ".".join(str(part) for part in where)


def assert_names(answer: Any, where: Where) -> None:
    assert answer.status_code == 422, answer.text
    fields = answer.json()["error"].get("fields", {})
    name = dotted(where)
    assert any(name == f or name.startswith(f + ".") for f in fields), (name, fields)


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The body's model reference; for a body that may be left out (a fresh code, asked only
    for an admin's account), the model it is when sent."""
    content = operation.get("requestBody", {}).get("content", {})
    schema: dict[str, Any] | None = content.get("application/json", {}).get("schema")
    if schema and "anyOf" in schema:
        [schema] = [part for part in schema["anyOf"] if "$ref" in part]
    return schema


def _parameters(operation: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]


@pytest.fixture
def admin(db: Session, request: pytest.FixtureRequest) -> Staff:
    """An admin; for an operation only other roles may call (a clinician's break-glass), one of
    those roles (tests/test_route_roles.py), so that the input is what gets checked."""
    params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
    allowed = PROTECTED.get((params.get("method", ""), params.get("path", "")), {"admin"})
    return create_staff(db, role="admin" if "admin" in allowed else min(allowed))


def _url(path: str, values: dict[str, str] | None = None) -> str:
    for name in _path_names(path):
        value = (values or {}).get(name, "0f" * 16)
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=LABELS)
def test_nul_in_a_path_or_query_parameter_is_refused_naming_it(
    api: TestClient, admin: Staff, method: str, path: str, operation: dict[str, Any]
) -> None:
    for name in _path_names(path):
        answer = api.request(method, _url(path, {name: NUL}), headers=admin.headers)
        assert_names(answer, (name,))
    for name in _parameters(operation, "query"):
        answer = api.request(method, _url(path), params={name: NUL}, headers=admin.headers)
        assert_names(answer, (name,))


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=LABELS)
def test_long_path_and_query_values_never_fail(
    api: TestClient, admin: Staff, method: str, path: str, operation: dict[str, Any]
) -> None:
    long = "x" * 5000
    for name in _path_names(path):
        answer = api.request(method, _url(path, {name: long}), headers=admin.headers)
        assert answer.status_code < 500, (name, answer.text)
    for name in _parameters(operation, "query"):
        answer = api.request(method, _url(path), params={name: long}, headers=admin.headers)
        assert answer.status_code < 500, (name, answer.text)


WITH_BODY = [(m, p, o) for m, p, o in OPERATIONS if _body_schema(o) is not None]


@pytest.mark.parametrize(
    ("method", "path", "operation"), WITH_BODY, ids=[f"{m} {p}" for m, p, _ in WITH_BODY]
)
def test_every_text_field_is_bounded_and_refuses_nul_and_overlong_values(
    api: TestClient, admin: Staff, method: str, path: str, operation: dict[str, Any]
) -> None:
    schema = _body_schema(operation)
    assert schema is not None
    for where, field in text_fields(schema):
        if where[-1] == ANY_KEY:  # a free object: NUL in a key and in a value
            assert_names(
                api.request(
                    method,
                    _url(path),
                    json=body_with(where[:-1], {NUL: "v"}),
                    headers=admin.headers,
                ),
                where[:-1],
            )
            assert_names(
                api.request(
                    method,
                    _url(path),
                    json=body_with(where[:-1], {"k": NUL}),
                    headers=admin.headers,
                ),
                where[:-1],
            )
            continue
        answer = api.request(method, _url(path), json=body_with(where, NUL), headers=admin.headers)
        assert_names(answer, where)
        if "enum" in field or "const" in field:
            continue
        if field.get("format") in PARSED:
            over = "1" * 10_000
        else:
            assert "maxLength" in field, f"{dotted(where)} takes text of any length"
            over = "a" * (field["maxLength"] + 1)
        answer = api.request(method, _url(path), json=body_with(where, over), headers=admin.headers)
        assert_names(answer, where)


def _request_bodies() -> list[type[RequestBody]]:
    """Every body the product reads (its API's and its providers' payloads), once imported."""
    import proirp.app  # noqa: F401  (every router, so every body model, is imported)

    found: list[type[RequestBody]] = []
    waiting = list(RequestBody.__subclasses__())
    while waiting:
        model = waiting.pop()
        found.append(model)
        waiting.extend(model.__subclasses__())
    return found


def _stored_fields() -> Iterator[tuple[str, StoredIn, int | None]]:
    """(model.field, where it is stored, the longest value the field takes)."""
    for model in _request_bodies():
        schema = model.model_json_schema(mode="validation")
        for name, field in model.model_fields.items():
            markers = [m for m in _metadata(field.annotation, field.metadata)]
            for marker in markers:
                if isinstance(marker, StoredIn):
                    shown = _resolved(schema["properties"][field.alias or name])
                    yield f"{model.__name__}.{name}", marker, shown.get("maxLength")


def _metadata(annotation: Any, own: list[Any]) -> Iterator[Any]:
    yield from own
    for part in get_args(annotation):
        if get_origin(part) is Annotated:
            yield from part.__metadata__
        else:
            yield from _metadata(part, [])
    if get_origin(annotation) is Annotated:
        yield from annotation.__metadata__


def test_every_stored_field_is_no_longer_than_its_column() -> None:
    stored = list(_stored_fields())
    assert {where for where, _, _ in stored} >= {
        "ClientCreate.first_name",
        "ClientFields.last_name",
        "TemplateCreate.name",
        "BulkCreate.name",
    }
    for where, marker, longest in stored:
        assert longest is not None and longest <= marker.max_length, (where, marker, longest)


def test_every_request_body_refuses_nul() -> None:
    bodies = set(_request_bodies())
    for method, path, operation in WITH_BODY:
        schema = _body_schema(operation)
        assert schema is not None
        name = schema["$ref"].rsplit("/", 1)[-1]
        assert any(model.__name__ == name for model in bodies), f"{method} {path}: {name}"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/clients",
            {
                "first_name": "F" * 100,
                "last_name": "L" * 100,
                "timezone": "America/Argentina/ComodRivadavia",
                "email": f"{'e' * 64}@{'d' * 60}.example.com",
                "email_consent": True,
                "consent_source": "S" * 100,
            },
        ),
        ("/templates", {"name": "N" * 200, "type": "sms", "body": "B" * 100_000}),
    ],
)
def test_values_as_long_as_allowed_are_stored(
    api: TestClient, admin: Staff, path: str, body: dict[str, Any]
) -> None:
    answer = api.post(path, json=body, headers=admin.headers)
    assert answer.status_code == 201, answer.text


def test_a_campaign_name_as_long_as_allowed_is_stored(
    api: TestClient, admin: Staff, db: Session
) -> None:
    client = create_client(db)
    client.sms_consent = True
    db.flush()
    body = {"type": "sms", "client_ids": [client.id], "body": "Please call.", "name": "C" * 200}
    answer = api.post("/comms/bulk", json=body, headers=admin.headers)
    assert answer.status_code == 202, answer.text
