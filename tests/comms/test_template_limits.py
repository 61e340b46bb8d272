"""Templates cannot tie up the product: rendering is bounded (no constant folding, caps on
numbers, text, collections, loop iterations and output, and a time limit), a template that goes
past a bound is refused when it is saved, and every way a template can fail to render is a 422
naming the field, at save and at send. Nothing of the template's text or values is quoted."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.clients.models import Client
from proirp.comms.models import Communication, Template
from proirp.comms.templates.rendering import render
from proirp.config import Settings
from tests.factories import Staff, create_client

# CPU seconds for one request: well under what the attacks below cost without bounds (seconds
# to minutes each), and over the render's time limit. CPU, not wall time: the machine is shared.
FAST = 1.0
MARKER = "Marguerite"

# Each would take seconds, minutes or gigabytes to render without bounds.
ATTACKS = [
    pytest.param("{{ (10**(2*10**6)) % 7 }}", "number", id="huge power"),
    pytest.param("{{ 7 * 10**400 * 10**400 * 10**400 }}", "number", id="huge product"),
    pytest.param(
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "loop iterations",
        id="nested loops",
    ),
    pytest.param(
        "{% set s = range(1000)|list %}{% for a in s %}{% for b in s %}{% for c in s %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "loop iterations",
        id="nested loops over a list",
    ),
    pytest.param('{{ "x" * 10**9 }}', "characters", id="repeated text"),
    pytest.param("{{ [0] * 10**9 }}", "items", id="repeated list"),
    pytest.param(
        "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "characters",
        id="text doubling",
    ),
    pytest.param(
        "{% set ns = namespace(l=[0]) %}{% for i in range(64) %}"
        "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l|string|length }}",
        "characters",
        id="nested list doubling",
    ),
    pytest.param(
        '{% for i in range(5000) %}{{ "0123456789" * 100 }}{% endfor %}',
        "characters",
        id="long output",
    ),
    pytest.param('{{ "%0100000000d"|format(1) }}', "width", id="format width"),
    pytest.param('{{ "%0100000000d" % 1 }}', "width", id="percent width"),
    pytest.param(
        '{{ (["y" * 1000] * 1000)|join("x" * 100000) }}', "characters", id="join amplifies"
    ),
    pytest.param(
        '{{ ("x" * 100000)|replace("", "y" * 100000) }}', "characters", id="replace amplifies"
    ),
    pytest.param(
        "{% set big = 'x' * 999000 %}{% set ns = namespace() %}"
        + "".join(f"{{% set ns.a{i} = big[{i}:] %}}" for i in range(4000)),
        "characters",
        id="slices kept",
    ),
    pytest.param('{{ ("ab" * 499999)|batch(1)|list|length }}', "items", id="lazy filter"),
    pytest.param('{{ "x".ljust(10**9) }}', "not available", id="text method"),
    pytest.param("{{ range(100001)|length }}", "numbers", id="long range"),
    pytest.param(
        "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "calls itself", id="recursion"
    ),
    pytest.param(
        "{% set big = 'x' * 500000 %}{% for i in range(10000) %}{{ big.count('xx') }}{% endfor %}",
        "time",
        id="slow",
    ),
    pytest.param("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nest", id="deep nesting"),
    pytest.param("{{ " + "9" * 5000 + " }}", "number", id="huge literal"),
]

# Each fails whatever its values are; all answered 500 before.
BROKEN = [
    pytest.param("{{ 1/0 }}", "divides by zero", id="division by zero"),
    pytest.param("{{ 1 + 'a' }}", "TypeError", id="wrong types"),
    pytest.param("{{ [1][5] }}", "no value", id="missing item"),
    pytest.param("{{ 1e308 * 10 ** 400 }}", "number", id="overflow"),
    pytest.param("{{ 'text'.__class__ }}", "not available", id="unsafe attribute"),
]


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, phone="+12025550143", email="avery.quinn@example.com")
    row.sms_consent = row.email_consent = True
    db.flush()
    return row


def _email(text: str, field: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Reminder",
        "type": "email",
        "subject": "From {{ practice.name }}",
        "body": "Hello from {{ practice.name }}.",
        "html": "<p>Hello from {{ practice.name }}.</p>",
        "variables": [{"name": "practice.name", "phi": False}],
    }
    body[field] = f"<p>{text}</p>" if field == "html" else text
    return body


def _timed_post(api: TestClient, path: str, body: dict[str, Any], staff: Staff) -> Any:
    """The request, asked again once if it took too long: the process's CPU time also counts
    whatever another thread of the test session did meanwhile (a full run once counted 1.2 s
    for a division by zero), and an unbounded template is slow every time. Every request here
    is refused, so asking twice changes nothing."""
    timings = []
    for _ in range(2):
        started = time.process_time()
        response = api.post(path, json=body, headers=staff.headers)
        timings.append(time.process_time() - started)
        if timings[-1] < FAST:
            return response
    raise AssertionError(f"took {min(timings):.2f} s of CPU, twice")


def _refusal(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    problem: str = error["fields"][field]
    return problem


def _count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- at save -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "named"), ATTACKS)
def test_a_template_past_a_bound_is_refused_quickly_when_saved(
    api: TestClient, db: Session, staff: Staff, source: str, named: str
) -> None:
    body = {"name": "Attack", "type": "sms", "body": f"{MARKER} {source}", "variables": []}
    problem = _refusal(_timed_post(api, "/templates", body, staff), "body")
    assert named in problem
    assert _count(db, Template) == 0


@pytest.mark.parametrize(("source", "named"), BROKEN)
@pytest.mark.parametrize("field", ["subject", "body", "html"])
def test_a_template_that_cannot_render_is_refused_naming_the_field(
    api: TestClient, db: Session, staff: Staff, source: str, named: str, field: str
) -> None:
    response = _timed_post(api, "/templates", _email(f"{MARKER} {source}", field), staff)
    problem = _refusal(response, field)
    assert problem.startswith("cannot be rendered: ")
    assert named in problem
    assert MARKER not in response.text
    assert _count(db, Template) == 0


@pytest.mark.parametrize(
    "source", ["{% include 'other' %}", "{% import 'other' as o %}", "{% extends 'other' %}"]
)
def test_a_template_cannot_use_another(
    api: TestClient, db: Session, staff: Staff, source: str
) -> None:
    response = api.post("/templates", json=_email(source, "body"), headers=staff.headers)
    assert _refusal(response, "body") == (
        "is not a valid template: a template cannot include, import or extend another, line 1"
    )


def test_a_change_that_cannot_render_is_refused_too(
    api: TestClient, db: Session, staff: Staff
) -> None:
    created = api.post("/templates", json=_email("Hi", "body"), headers=staff.headers)
    assert created.status_code == 201, created.text
    template_id = created.json()["template"]["id"]
    response = api.patch(
        f"/templates/{template_id}", json={"body": "{{ 1/0 }}"}, headers=staff.headers
    )
    assert "divides by zero" in _refusal(response, "body")


def test_ordinary_templates_still_save_and_render(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    source = (
        "{% for n in [1, 2, 3] %}{{ n * 2 }}{% if not loop.last %}, {% endif %}{% endfor %}; "
        "{{ practice.name|upper }}; {{ '%s!'|format(client.first_name) }}; "
        "{{ client.first_name ~ ' ' ~ (7 // 2) }}; {{ ['a', 'b']|join('-') }}; "
        "{{ client.first_name.lower() }}; {% for i in range(2) %}{{ i }}{% endfor %}; "
        "{{ (2 ** 10) % 1000 }}; {{ ns_free|default('none') }}; {{ 'x' * 3 }}"
    )
    body = {
        "name": "Ordinary",
        "type": "sms",
        "body": source,
        "variables": [
            {"name": "client.first_name", "phi": True},
            {"name": "practice.name", "phi": False},
            {"name": "ns_free", "phi": False},
        ],
    }
    created = api.post("/templates", json=body, headers=staff.headers)
    assert created.status_code == 201, created.text
    # Rendered at send, with the client's own values, with a BAA in place.
    template = db.get(Template, created.json()["template"]["id"])
    assert template is not None
    rendered = render(
        template,
        {"client.first_name": "Avery", "practice.name": "Lakeside", "ns_free": "given"},
    )
    assert rendered.body == ("2, 4, 6; LAKESIDE; Avery!; Avery 3; a-b; avery; 01; 24; given; xxx")


# --- at send -----------------------------------------------------------------------------------


def _saved_before_the_bounds(db: Session, channel: str, source: str, **fields: Any) -> Template:
    """A template written straight into the database, as one saved before the bounds were."""
    variables = fields.pop("variables", [])
    template = Template(
        name=f"old-{_count(db, Template)}",
        channel=channel,
        subject="Hello" if channel == "email" else None,
        body=source,
        variables=variables,
        **fields,
    )
    db.add(template)
    db.flush()
    return template


SEND_ATTACKS = [
    pytest.param("{{ (10**(2*10**5)) % 7 }}", "number", id="huge power"),
    pytest.param(
        "{% for a in range(300) %}{% for b in range(300) %}{% for c in range(300) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "loop iterations",
        id="nested loops",
    ),
    pytest.param("{{ 1/0 }}", "divides by zero", id="division by zero"),
    pytest.param("{{ range(100001)|length }}", "numbers", id="long range"),
    pytest.param("{{ undefined_thing.attr }}", "no value", id="undefined"),
]


@pytest.mark.parametrize(("source", "named"), SEND_ATTACKS)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_stored_template_that_cannot_render_is_a_422_at_send(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    channel: str,
    source: str,
    named: str,
) -> None:
    template = _saved_before_the_bounds(db, channel, f"{MARKER} {source}")
    body = {"type": channel, "client_id": client.id, "template_id": template.id}
    response = _timed_post(api, "/comms", body, staff)
    problem = _refusal(response, "template_id")
    assert problem.startswith("the template's body could not be rendered: ")
    assert named in problem
    assert MARKER not in response.text
    assert _count(db, Communication) == 0


def test_an_html_part_that_cannot_render_is_named(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _saved_before_the_bounds(db, "email", "Hello", html="<p>{{ 1/0 }}</p>")
    body = {"type": "email", "client_id": client.id, "template_id": template.id}
    problem = _refusal(_timed_post(api, "/comms", body, staff), "template_id")
    assert problem.startswith("the template's html could not be rendered: it divides by zero")


def test_a_template_that_fails_only_with_the_callers_values_is_a_422(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    # `count` is the sender's: a number here, which sample text cannot stand for when it is saved.
    source = "{% for i in range(count) %}.{% endfor %} and {{ 100 // (count - 7) }}"
    created = api.post(
        "/templates",
        json={
            "name": "Counted",
            "type": "sms",
            "body": source,
            "variables": [{"name": "count", "phi": False}],
        },
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    send = {"type": "sms", "client_id": client.id, "template_id": created.json()["template"]["id"]}
    for count, named in ((10**6, "numbers"), (7, "divides by zero"), ("7", "TypeError")):
        body = {**send, "variables": {"count": count}}
        problem = _refusal(_timed_post(api, "/comms", body, staff), "template_id")
        assert named in problem
    assert _count(db, Communication) == 0
    ok = api.post("/comms", json={**send, "variables": {"count": 3}}, headers=staff.headers)
    assert ok.status_code == 202, ok.text
    row = db.get(Communication, ok.json()["communication"]["id"])
    assert row is not None and row.body == "... and -25"


def test_a_template_that_fails_only_with_the_clients_values_is_a_422(
    api: TestClient,
    db: Session,
    staff: Staff,
    client: Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Avery: five letters. The sample value used when it was saved is longer.
    source = "Hi {{ 10 // (client.first_name|length - 5) }}"
    variables = [{"name": "client.first_name", "phi": True}]
    created = api.post(
        "/templates",
        json={
            "name": "Five",
            "type": "email",
            "subject": "Hi",
            "body": source,
            "variables": variables,
        },
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    monkeypatch.setattr(settings, "sendgrid_hipaa_enabled", True)
    template_id = created.json()["template"]["id"]
    body = {"type": "email", "client_id": client.id, "template_id": template_id}
    problem = _refusal(_timed_post(api, "/comms", body, staff), "template_id")
    assert "divides by zero" in problem
    assert "Avery" not in problem


def test_a_campaign_whose_template_cannot_render_is_refused_when_started(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    template = _saved_before_the_bounds(
        db,
        "email",
        "{{ practice.name }} {{ 1/0 }}",
        variables=[{"name": "practice.name", "phi": False}],
    )
    body = {"type": "email", "client_ids": [client.id], "template_id": template.id}
    problem = _refusal(_timed_post(api, "/comms/bulk", body, staff), "template_id")
    assert "divides by zero" in problem
