"""SendGrid Mail Send through the official SDK: key, validation, acceptance, ledger, templates."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from sendgrid.helpers.mail import Mail

from proirp.sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDGRID_API_KEY,
    RunningSendGrid,
    serve,
)

SENDER = "noreply@sandbox.proirp.test"
CLIENT = "client@example.com"
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def mail_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": CLIENT}]}],
        "from": {"email": SENDER},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    body.update(overrides)
    return body


def send(sandbox: RunningSendGrid, body: dict[str, Any]) -> str:
    """Send through the SDK; the X-Message-Id of the 202."""
    response = sandbox.client().client.mail.send.post(request_body=body)
    assert response.status_code == 202
    assert response.body == b""
    message_id: str = response.headers["X-Message-Id"]
    return message_id


def refusal(sandbox: RunningSendGrid, body: object) -> list[dict[str, Any]]:
    """The errors of a send the SDK reports as 400."""
    with pytest.raises(BadRequestsError) as exc:
        sandbox.client().client.mail.send.post(request_body=body)
    assert exc.value.status_code == 400
    errors: list[dict[str, Any]] = json.loads(exc.value.body)["errors"]
    for error in errors:
        assert set(error) == {"message", "field", "help"}
    return errors


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningSendGrid]:
    """One sandbox (no app, so no events) for the many refusal cases."""
    config = SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        sendgrid_api_key=SENDGRID_API_KEY,
    )
    app = create_sandbox_app(config)
    with serve(app) as root:
        yield RunningSendGrid(config=config, state=app.state.sendgrid, root=root)


@pytest.fixture
def fresh(shared: RunningSendGrid) -> RunningSendGrid:
    shared.state.reset()
    return shared


# --- the key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer SG.wrong", f"Basic {SENDGRID_API_KEY}", SENDGRID_API_KEY, "Bearer "],
)
def test_a_wrong_or_missing_key_is_401(fresh: RunningSendGrid, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    url = fresh.host + "/v3/mail/send"
    response = requests.post(url, json=mail_body(), headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {
        "errors": [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
                "help": None,
            }
        ]
    }
    assert fresh.state.ledger() == []
    assert fresh.state.stats()["rejected_401"] == 1


def test_the_sdk_sees_401_as_unauthorized(fresh: RunningSendGrid) -> None:
    with pytest.raises(UnauthorizedError) as exc:
        fresh.client(api_key="SG.nope").send(mail_body())
    assert exc.value.status_code == 401


# --- validation --------------------------------------------------------------------------


def _many(count: int) -> list[dict[str, Any]]:
    return [{"to": [{"email": f"c{n}@example.com"}]} for n in range(count)]


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("no personalizations", {"personalizations": None}, "personalizations", "at least one"),
    ("empty personalizations", {"personalizations": []}, "personalizations", "at least one"),
    ("1,001 personalizations", {"personalizations": _many(1001)}, "personalizations", "1001"),
    (
        "1,001 recipients",
        {
            "personalizations": [
                {
                    "to": [{"email": f"t{n}@example.com"} for n in range(600)],
                    "cc": [{"email": f"c{n}@example.com"} for n in range(401)],
                }
            ]
        },
        "personalizations",
        "limit of 1000 total recipients",
    ),
    (
        "personalization without to",
        {"personalizations": [{"subject": "x"}]},
        "personalizations.0.to",
        "The to array is required",
    ),
    (
        "invalid to",
        {"personalizations": [{"to": [{"email": "not-an-address"}]}]},
        "personalizations.0.to.0.email",
        "Does not contain a valid address.",
    ),
    (
        "invalid bcc",
        {"personalizations": [{"to": [{"email": CLIENT}], "bcc": [{"email": "a@@b.com"}]}]},
        "personalizations.0.bcc.0.email",
        "Does not contain a valid address.",
    ),
    (
        "repeated in one personalization",
        {"personalizations": [{"to": [{"email": CLIENT}], "bcc": [{"email": CLIENT}]}]},
        "personalizations.0.bcc.0.email",
        "should be unique between to, cc, and bcc",
    ),
    (
        "repeated across personalizations",
        {"personalizations": [*_many(3), {"to": [{"email": "C1@Example.com"}]}]},
        "personalizations.3.to.0.email",
        "should be unique between to, cc, and bcc",
    ),
    ("no from", {"from": None}, "from.email", "The from object must be provided"),
    ("from without email", {"from": {"name": "Us"}}, "from.email", "must be provided"),
    ("invalid from", {"from": {"email": "us"}}, "from.email", "does not contain a valid"),
    ("no subject", {"subject": None}, "subject", "The subject is required."),
    ("empty subject", {"subject": ""}, "subject", "at least one character"),
    ("no content", {"content": None}, "content", "Unless a valid template_id is provided"),
    (
        "empty content value",
        {"content": [{"type": "text/plain", "value": ""}]},
        "content.0.value",
        "The content value must be a string",
    ),
    (
        "html before text",
        {
            "content": [
                {"type": "text/html", "value": "<p>x</p>"},
                {"type": "text/plain", "value": "x"},
            ]
        },
        "content",
        "text/plain needs to be first",
    ),
    (
        "unknown template",
        {"template_id": "d-" + "0" * 32},
        "template_id",
        "The template_id is not a valid template ID.",
    ),
    ("custom_args not strings", {"custom_args": {"n": 1}}, "custom_args", "must be strings"),
    (
        "personalization custom_args not strings",
        {"personalizations": [{"to": [{"email": CLIENT}], "custom_args": {"ok": True}}]},
        "personalizations.0.custom_args",
        "must be strings",
    ),
    ("headers not strings", {"headers": {"X-Count": 2}}, "headers", "must be strings"),
    ("headers not an object", {"headers": ["X-A: b"]}, "headers", "must be strings"),
    (
        "personalization headers not strings",
        {"personalizations": [{"to": [{"email": CLIENT}], "headers": {"X-A": None}}]},
        "personalizations.0.headers",
        "must be strings",
    ),
    ("a reserved header", {"headers": {"Reply-To": "a@example.com"}}, "headers", "reserved"),
    ("send_at past 72 hours", {"send_at": 4_000_000_000}, "send_at", "72 hours"),
    ("eleven categories", {"categories": [f"c{n}" for n in range(11)]}, "categories", "10"),
    (
        "a field SendGrid does not have",
        {"dynamic_template_data": {"a": "b"}},
        "dynamic_template_data",
        "does not know",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_invalid_sends_are_refused_in_sendgrids_shape(
    fresh: RunningSendGrid, change: dict[str, Any], field: str, message: str
) -> None:
    body = {k: v for k, v in mail_body(**change).items() if v is not None}
    errors = refusal(fresh, body)
    matching = [error for error in errors if error["field"] == field]
    assert matching, errors
    assert message in matching[0]["message"]
    assert fresh.state.ledger() == []
    stats = fresh.state.stats()
    assert (stats["rejected_4xx"], stats["accepted"]) == (1, 0)


def test_refusals_name_the_field_not_the_address(fresh: RunningSendGrid) -> None:
    body = mail_body(personalizations=[{"to": [{"email": CLIENT}], "cc": [{"email": CLIENT}]}])
    errors = refusal(fresh, body)
    assert CLIENT not in json.dumps(errors)
    [error] = errors
    assert error["help"].startswith("http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/")


def test_every_problem_is_reported_at_once(fresh: RunningSendGrid) -> None:
    errors = refusal(fresh, {"personalizations": [{"to": [{"email": "x"}]}]})
    assert [error["field"] for error in errors] == [
        "personalizations.0.to.0.email",
        "from.email",
        "content",
        "subject",
    ]


def test_a_body_that_is_not_json_is_400(fresh: RunningSendGrid) -> None:
    response = requests.post(
        fresh.host + "/v3/mail/send",
        data=b"{not json",
        headers={"Authorization": f"Bearer {SENDGRID_API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Bad Request", "field": None, "help": None}]}


def test_subjects_may_come_from_every_personalization(fresh: RunningSendGrid) -> None:
    body = mail_body(
        subject=None,
        personalizations=[
            {"to": [{"email": "a@example.com"}], "subject": "For A"},
            {"to": [{"email": "b@example.com"}], "subject": "For B"},
        ],
    )
    del body["subject"]
    send(fresh, body)
    assert [entry["subject"] for entry in fresh.state.ledger()] == ["For A", "For B"]


# --- acceptance and the ledger -----------------------------------------------------------


def test_accepted_send_is_202_with_a_message_id(fresh: RunningSendGrid) -> None:
    response = fresh.client().send(
        Mail(from_email=SENDER, to_emails=CLIENT, subject="Hi", plain_text_content="Hello")
    )
    assert response.status_code == 202 and response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert MESSAGE_ID.match(message_id)
    [entry] = fresh.control("GET", "ledger").json()["messages"]
    assert entry["x_message_id"] == message_id
    assert entry["sg_message_id"].startswith(message_id + ".")
    assert (entry["to"], entry["kind"], entry["subject"], entry["text"]) == (
        CLIENT,
        "to",
        "Hi",
        "Hello",
    )
    stats = fresh.state.stats()
    assert (stats["requests"], stats["accepted"], stats["recipients"]) == (1, 1, 1)


def test_ledger_has_one_copy_per_recipient_after_substitutions(fresh: RunningSendGrid) -> None:
    unsubscribe = "<https://app.example/u/abc>, <mailto:unsub@example.com>"
    body = {
        "personalizations": [
            {
                "to": [{"email": "ana@example.com", "name": "Ana"}],
                "cc": [{"email": "carer@example.com"}],
                "substitutions": {"-first-": "Ana", "-link-": "https://app.example/a"},
                "custom_args": {"communication_id": "c-1"},
                "headers": {"List-Unsubscribe": "<https://app.example/u/ana>"},
            },
            {
                "to": [{"email": "bo@example.com"}],
                "bcc": [{"email": "audit@example.com"}],
                "subject": "Bo, a reminder",
                "substitutions": {"-first-": "Bo", "-link-": "https://app.example/b"},
                "custom_args": {"communication_id": "c-2"},
                "send_at": 1_700_000_000,
            },
        ],
        "from": {"email": SENDER, "name": "Pro IRP"},
        "reply_to": {"email": "office@example.com"},
        "subject": "Hello -first-",
        "content": [
            {"type": "text/plain", "value": "Hi -first-, see -link-"},
            {"type": "text/html", "value": "<p>Hi -first-, <a href='-link-'>here</a></p>"},
        ],
        "headers": {
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "custom_args": {"practice": "p-9", "communication_id": "overridden"},
        "categories": ["reminder"],
        "tracking_settings": {"click_tracking": {"enable": False}},
    }
    message_id = send(fresh, body)
    ledger = fresh.state.ledger()
    assert [(e["to"], e["kind"], e["personalization"]) for e in ledger] == [
        ("ana@example.com", "to", 0),
        ("carer@example.com", "cc", 0),
        ("bo@example.com", "to", 1),
        ("audit@example.com", "bcc", 1),
    ]
    assert len({e["sg_message_id"] for e in ledger}) == 4
    assert all(e["x_message_id"] == message_id for e in ledger)
    ana, carer, bo, _ = ledger
    assert ana["name"] == "Ana" and carer["name"] is None
    assert (ana["subject"], ana["text"]) == ("Hello Ana", "Hi Ana, see https://app.example/a")
    assert ana["html"] == "<p>Hi Ana, <a href='https://app.example/a'>here</a></p>"
    assert carer["subject"] == "Hello Ana"  # the personalization, not the recipient, decides
    assert (bo["subject"], bo["text"]) == ("Bo, a reminder", "Hi Bo, see https://app.example/b")
    assert ana["headers"] == {
        "List-Unsubscribe": "<https://app.example/u/ana>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert bo["headers"]["List-Unsubscribe"] == unsubscribe
    assert ana["custom_args"] == {"practice": "p-9", "communication_id": "c-1"}
    assert bo["custom_args"] == {"practice": "p-9", "communication_id": "c-2"}
    assert ana["from"] == {"email": SENDER, "name": "Pro IRP"}
    assert ana["reply_to"] == {"email": "office@example.com"}
    assert ana["categories"] == ["reminder"]
    assert (ana["send_at"], bo["send_at"]) == (None, 1_700_000_000)
    assert ana["template_id"] is None
    assert ana["ignored_fields"] == ["tracking_settings"]
    assert fresh.state.stats()["recipients"] == 4


def test_a_thousand_personalizations_in_one_call(fresh: RunningSendGrid) -> None:
    send(fresh, mail_body(personalizations=_many(1000)))
    ledger = fresh.state.ledger()
    assert len(ledger) == 1000
    assert ledger[-1]["to"] == "c999@example.com"
    errors = refusal(fresh, mail_body(personalizations=_many(1001)))
    assert errors[0]["message"] == (
        "The personalization block is limited to 1000 personalizations per API request. You "
        "have provided 1001 personalizations. Please consider splitting this into multiple "
        "requests and resending your request."
    )
    assert len(fresh.state.ledger()) == 1000


def test_a_gzip_body_is_read_as_the_spec_allows(fresh: RunningSendGrid) -> None:
    response = requests.post(
        fresh.host + "/v3/mail/send",
        data=gzip.compress(json.dumps(mail_body()).encode()),
        headers={
            "Authorization": f"Bearer {SENDGRID_API_KEY}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert MESSAGE_ID.match(response.headers["X-Message-Id"])


# --- dynamic templates -------------------------------------------------------------------


def create_template(sandbox: RunningSendGrid, **fields: str) -> str:
    response = sandbox.control("POST", "templates", json=fields)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


def test_dynamic_templates_render_with_each_personalizations_data(fresh: RunningSendGrid) -> None:
    template_id = create_template(
        fresh,
        subject="{{practice}}: {{{title}}}",
        html="<p>Hi {{client.first}}, {{note}} {{{raw}}} [{{missing}}] {{count}}</p>",
        text="Hi {{client.first}}",
    )
    assert re.match(r"^d-[0-9a-f]{32}$", template_id)
    listed = fresh.control("GET", "templates").json()["templates"]
    assert [t["id"] for t in listed] == [template_id]

    mail = Mail(from_email=SENDER, to_emails=CLIENT)
    mail.template_id = template_id
    mail.dynamic_template_data = {
        "practice": "Smith & Co",
        "title": "Tom & Jerry",
        "client": {"first": "Ana"},
        "note": "<b>bring forms</b>",
        "raw": "<i>ok</i>",
        "count": 3,
    }
    response = fresh.client().send(mail)
    assert response.status_code == 202
    [entry] = fresh.state.ledger()
    assert entry["template_id"] == template_id
    assert entry["subject"] == "Smith &amp; Co: Tom & Jerry"  # {{ }} escapes in subjects too
    assert entry["html"] == ("<p>Hi Ana, &lt;b&gt;bring forms&lt;/b&gt; <i>ok</i> [] 3</p>")
    assert entry["text"] == "Hi Ana"


def test_a_template_needs_neither_subject_nor_content_in_the_request(
    fresh: RunningSendGrid,
) -> None:
    template_id = create_template(fresh, subject="Reminder", html="<p>{{when}}</p>")
    body = mail_body(template_id=template_id)
    del body["subject"], body["content"]
    body["personalizations"][0]["dynamic_template_data"] = {"when": "soon"}
    send(fresh, body)
    [entry] = fresh.state.ledger()
    assert (entry["subject"], entry["html"], entry["text"]) == ("Reminder", "<p>soon</p>", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "x"},
        {"subject": "", "html": "x"},
        {"subject": "x", "html": "{{#if a}}y{{/if}}"},
        {"subject": "x", "html": "y", "colour": "red"},
    ],
)
def test_templates_the_sandbox_cannot_render_are_refused(
    fresh: RunningSendGrid, fields: dict[str, str]
) -> None:
    response = fresh.control("POST", "templates", json=fields)
    assert response.status_code == 400
    assert set(response.json()["errors"][0]) == {"message", "field", "help"}
    assert fresh.control("GET", "templates").json() == {"templates": []}
