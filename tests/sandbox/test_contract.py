"""Contract: the sandbox against Twilio's published OpenAPI description of the Messages API.

A hand-written check of the parts we rely on (field sets, types, patterns, enums, parameter
names, paths) is enough here; a JSON-schema engine would add a dependency for no extra catch.
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from fastapi.routing import APIRoute
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from proirp.sandbox.app import Sandbox, SandboxConfig, sandbox_router
from proirp.sandbox.twilio.api import messages_router
from proirp.sandbox.twilio.listing import LIST_PARAMETERS
from proirp.sandbox.twilio.messages import (
    CREATE_PARAMETERS,
    MODELLED_PARAMETERS,
    UPDATE_PARAMETERS,
)
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    OUR_NUMBER,
    RedirectingHttpClient,
    RunningSandbox,
    WebhookReceiver,
    serve,
)

SPEC_PATH = Path(__file__).parent / "specs" / "twilio_api_v2010_messages.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
MESSAGE_SCHEMA: dict[str, Any] = SCHEMAS["api.v2010.account.message"]
LIST_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
INSTANCE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
        return resolved
    return schema


def form_schema(path: str, method: str) -> dict[str, Any]:
    content = SPEC["paths"][path][method]["requestBody"]["content"]
    schema: dict[str, Any] = content["application/x-www-form-urlencoded"]["schema"]
    return schema


def check_value(name: str, schema: dict[str, Any], value: object) -> None:
    """Fail unless `value` fits the (resolved) property schema."""
    schema = resolve(schema)
    if value is None:
        assert schema.get("nullable"), f"{name} is null but the spec does not allow it"
        return
    kind = schema["type"]
    if kind == "string":
        assert isinstance(value, str), f"{name} should be a string: {value!r}"
        if "enum" in schema:
            assert value in schema["enum"], f"{name}={value!r} not in {schema['enum']}"
        if "pattern" in schema:
            assert re.match(schema["pattern"], value), f"{name}={value!r} !~ {schema['pattern']}"
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**6), name
        if schema.get("format") == "date-time-rfc-2822":
            assert parsedate_to_datetime(value).utcoffset() is not None, name
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{name}: {value!r}"
    elif kind == "object":
        assert isinstance(value, dict), name
        if schema.get("format") == "uri-map":
            assert all(str(uri).startswith("/2010-04-01/") for uri in value.values()), name
    else:
        raise AssertionError(f"the contract check does not know type {kind} ({name})")


def check_message(message: dict[str, Any]) -> None:
    """Exactly the spec's fields, each of the spec's type."""
    properties: dict[str, Any] = MESSAGE_SCHEMA["properties"]
    assert set(message) == set(properties), (
        f"missing {set(properties) - set(message)}, unknown {set(message) - set(properties)}"
    )
    for name, schema in properties.items():
        check_value(name, schema, message[name])


def get_json(sandbox: RunningSandbox, url: str, **params: str | int) -> dict[str, Any]:
    response = requests.get(url, params=params, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_specs_own_examples_agree_with_its_schema() -> None:
    examples = SPEC["paths"][LIST_PATH]["post"]["responses"]["201"]["content"]["application/json"]
    for example in examples["examples"].values():
        assert set(example["value"]) == set(MESSAGE_SCHEMA["properties"])


def test_messages_in_every_state_match_the_message_schema(
    sandbox: RunningSandbox, client: Client, receiver: WebhookReceiver
) -> None:
    callback = receiver.base_url + "/status"
    created = [
        client.messages.create(to=to, from_=OUR_NUMBER, body="x", status_callback=callback).sid
        for to in (CLIENT_NUMBER, "+15005550010", "+15005550011")
    ]
    created.append(
        client.messages.create(
            to=CLIENT_NUMBER, messaging_service_sid="MG" + "c" * 32, body="👋"
        ).sid
    )
    sandbox.control("POST", "inbound", json={"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": "hi"})
    # Right after creation (queued / accepted) ...
    for sid in created:
        check_message(get_json(sandbox, sandbox.messages_url(f"/{sid}.json")))
    receiver.wait_for("/status", 5)  # sent+delivered, sent+undelivered, failed
    # ... and in their final states, via list (inbound included) and fetch.
    page = get_json(sandbox, sandbox.messages_url())
    assert {m["status"] for m in page["messages"]} >= {
        "delivered",
        "undelivered",
        "failed",
        "received",
    }
    for message in page["messages"]:
        check_message(message)
        check_message(get_json(sandbox, sandbox.api_base + message["uri"]))
    # A redacted message too.
    client.messages(created[0]).update(body="")
    check_message(get_json(sandbox, sandbox.messages_url(f"/{created[0]}.json")))


def test_list_response_has_the_specs_page_fields(sandbox: RunningSandbox, client: Client) -> None:
    for _ in range(3):
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
    response = SPEC["paths"][LIST_PATH]["get"]["responses"]["200"]["content"]["application/json"]
    properties: dict[str, Any] = response["schema"]["properties"]
    page = get_json(sandbox, sandbox.messages_url(), PageSize=2)
    assert set(page) == set(properties)
    for name, schema in properties.items():
        value = page[name]
        if value is None:
            assert schema.get("nullable"), name
        elif schema["type"] == "integer":
            assert isinstance(value, int), name
        elif schema["type"] == "string":
            assert isinstance(value, str) and value.startswith("/2010-04-01/Accounts/"), name
        else:
            assert isinstance(value, list), name
    for message in page["messages"]:
        check_message(message)
    example = response["examples"]["readFullPage1"]["value"]
    assert set(page) == set(example)


def test_error_answers_have_twilios_shape(sandbox: RunningSandbox) -> None:
    response = requests.post(
        sandbox.messages_url(), data={"From": OUR_NUMBER}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == response.status_code == 400
    assert body["code"] == 21604  # the spec's one required parameter
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21604"


def test_parameter_names_are_the_specs() -> None:
    create = form_schema(LIST_PATH, "post")
    assert set(create["properties"]) == CREATE_PARAMETERS
    assert create["required"] == ["To"]
    assert MODELLED_PARAMETERS <= CREATE_PARAMETERS
    assert set(form_schema(INSTANCE_PATH, "post")["properties"]) == UPDATE_PARAMETERS
    query = {p["name"] for p in SPEC["paths"][LIST_PATH]["get"]["parameters"] if p["in"] == "query"}
    assert query == set(LIST_PARAMETERS)


def example_value(name: str, schema: dict[str, Any], receiver: WebhookReceiver) -> str:
    given = {
        "To": CLIENT_NUMBER,
        "From": OUR_NUMBER,
        "FallbackFrom": OUR_NUMBER,
        "StatusCallback": receiver.base_url + "/status",
        "ValidityPeriod": "600",
        "SendAt": "2030-01-01T00:00:00Z",
        "MediaUrl": "https://example.com/a.png",
    }
    if name in given:
        return given[name]
    schema = resolve(schema)
    if "pattern" in schema:  # SIDs: two letters and 32 hex digits
        return schema["pattern"][1:3] + "0" * 32
    if "enum" in schema:
        return str(schema["enum"][0])
    return {"boolean": "true", "integer": "1", "number": "0.5"}.get(schema["type"], "text")


def test_create_accepts_every_spec_parameter(
    sandbox: RunningSandbox, receiver: WebhookReceiver
) -> None:
    properties: dict[str, Any] = form_schema(LIST_PATH, "post")["properties"]
    form = {name: example_value(name, schema, receiver) for name, schema in properties.items()}
    form["Body"] = "Hello"
    response = requests.post(
        sandbox.messages_url(), data=form, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    assert response.status_code == 201, response.text
    check_message(response.json())
    [entry] = sandbox.state.ledger()
    assert set(entry["ignored_params"]) == set(properties) - MODELLED_PARAMETERS
    assert entry["validity_period"] == 600


def test_served_paths_are_the_specs() -> None:
    config = SandboxConfig(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN)
    sandbox = Sandbox(config)
    served = {
        (route.path, method.lower())
        for route in messages_router(sandbox.twilio).routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    specified = {
        (path, method)
        for path, operations in SPEC["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    assert served == specified


def test_mounted_under_a_prefix_uris_stay_twilio_relative(receiver: WebhookReceiver) -> None:
    sandbox = Sandbox(SandboxConfig(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN))
    app = FastAPI()
    app.include_router(sandbox_router(sandbox), prefix="/sandbox")
    try:
        with serve(app) as root:
            base = root + "/sandbox/twilio"
            client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RedirectingHttpClient(base))
            sids = [
                client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body=str(n)).sid
                for n in range(3)
            ]
            message = client.messages(sids[0]).fetch()
            assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sids[0]}.json"
            assert [m.sid for m in client.messages.stream(page_size=2)] == sids[::-1]
            wrong = Client(ACCOUNT_SID, "nope", http_client=RedirectingHttpClient(base))
            with pytest.raises(TwilioRestException) as exc:
                wrong.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
            assert exc.value.code == 20003  # Twilio's error shape survives mounting
            assert len(sandbox.twilio.ledger()) == 3
    finally:
        sandbox.close()
