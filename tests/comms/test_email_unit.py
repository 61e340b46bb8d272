"""Email pieces that need no server: shared content and substitutions, batch grouping, and how
SendGrid's answers become reasons."""

from __future__ import annotations

from typing import Any

from proirp.comms.core.html import html_problem
from proirp.comms.email.content import (
    SharedContent,
    apply,
    shared_content,
    substitutions_for,
    with_footer,
)
from proirp.comms.email.dispatch import _groups
from proirp.comms.email.service import render_part
from proirp.comms.email.unsubscribe import URL_PLACEHOLDER
from proirp.comms.models import Campaign, Communication, Template
from proirp.comms.templates.rendering import nest, render
from proirp.integrations.sendgrid.errors import reason_for, retry_after_seconds

VARIABLES = [
    {"name": "client.first_name", "phi": True},
    {"name": "practice.name", "phi": False},
]


def _template(**fields: Any) -> Template:
    values: dict[str, Any] = {
        "name": "t",
        "channel": "email",
        "subject": "Hi {{ client.first_name }}",
        "body": "Hello {{ client.first_name }}, from {{ practice.name }}.",
        "html": "<p>Hello {{ client.first_name }}</p>",
        "variables": VARIABLES,
    }
    values.update(fields)
    return Template(**values)


def test_substituting_each_recipient_s_values_gives_what_rendering_gives() -> None:
    template = _template()
    shared = shared_content(Campaign(body=""), template)
    values = {"client.first_name": "Zoë <O'Brien>", "practice.name": "Lakeside"}
    subs = substitutions_for(values)
    expected = render(template, values)
    assert apply(shared.subject, subs) == expected.subject
    assert apply(shared.text, subs) == expected.body
    assert apply(shared.html, subs) == render_part(template, template.html or "", values)
    assert "&lt;O&#39;Brien&gt;" in (apply(shared.html, subs) or "")


def test_a_filter_on_a_value_cannot_be_substituted() -> None:
    template = _template(body="Hello {{ client.first_name | upper }}")
    shared = shared_content(Campaign(body=""), template)
    values = {"client.first_name": "Avery", "practice.name": "Lakeside"}
    assert apply(shared.text, substitutions_for(values)) != render(template, values).body


def test_bulk_mail_ends_with_the_recipient_s_unsubscribe_link() -> None:
    content = with_footer(SharedContent("Hi", "Hello.", "<p>Hello.</p>"))
    assert content.text is not None and content.html is not None
    assert content.text.startswith("Hello.") and URL_PLACEHOLDER in content.text
    assert f'href="{URL_PLACEHOLDER}"' in content.html


def test_dynamic_template_data_is_nested() -> None:
    assert nest({"client.first_name": "A", "practice.name": "L"}) == {
        "client": {"first_name": "A"},
        "practice": {"name": "L"},
    }


def _comm(index: int, address: str, campaign: str | None = "c1") -> Communication:
    return Communication(
        id=f"m{index}",
        campaign_id=campaign,
        channel="email",
        to_address=address,
        body="",
        substitutions="{}" if campaign else None,
    )


def test_a_call_holds_each_address_once_and_at_most_a_thousand() -> None:
    comms = [_comm(i, f"c{i}@example.com") for i in range(1500)]
    comms.append(_comm(1500, "C1200@example.com"))  # c1200 again, in other case
    groups = _groups(comms)
    assert [len(g) for g in groups] == [1000, 500, 1]
    assert groups[2][0].id == "m1500"


def test_single_emails_and_other_campaigns_go_in_calls_of_their_own() -> None:
    comms = [_comm(0, "a@example.com", None), _comm(1, "b@example.com", None)]
    comms += [_comm(2, "a@example.com", "c2"), _comm(3, "b@example.com", "c2")]
    assert sorted(len(g) for g in _groups(comms)) == [1, 1, 2]


def test_reasons_name_fields_but_never_repeat_sendgrid_s_text() -> None:
    body = (
        b'{"errors":[{"message":"Each email address should be unique: avery@example.com",'
        b'"field":"personalizations.0.to","help":null}]}'
    )
    reason = reason_for(400, body)
    assert reason == "SendGrid refused the message as invalid (personalizations.0.to)"
    assert "avery" not in reason
    assert reason_for(418, b"not json").endswith("(HTTP 418)")


def test_retry_after_comes_from_sendgrid_s_rate_limit_reset() -> None:
    assert retry_after_seconds({"X-RateLimit-Reset": "1030"}, now=1000.0) == 30.0
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({}) is None


def test_retry_after_is_read_whatever_the_case_of_the_header_names() -> None:
    # HTTP header names are case-insensitive; servers send them lowercase over HTTP/2 and often
    # over HTTP/1.1 too, and the SDK's error hands them on as they came.
    assert retry_after_seconds({"retry-after": "20"}) == 20.0
    assert retry_after_seconds({"x-ratelimit-reset": "1030"}, now=1000.0) == 30.0


def test_an_html_problem_says_where_without_quoting_the_markup() -> None:
    assert html_problem("<p>Hello <b>there</b></p>") is None
    problem = html_problem("<p>Hi <b>x</AveryQuinn></p>")
    assert problem == "is not well-formed HTML at line 1, column 23 (unexpected-end-tag)"
    assert html_problem("<b>unclosed") is not None
