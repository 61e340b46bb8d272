"""The SendGrid imitation's pure parts: Handlebars variables, substitutions, lifecycles, and the
Event Webhook's bytes on the wire."""

from __future__ import annotations

import json

import pytest

from proirp.sandbox.sendgrid.copies import substitute
from proirp.sandbox.sendgrid.events import encode_batch, lifecycle_for
from proirp.sandbox.sendgrid.templates import render, unsupported_tags


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{name}}", "Ana &amp; Bo"),
        ("{{{name}}}", "Ana & Bo"),
        ("{{ name }} / {{{ name }}}", "Ana &amp; Bo / Ana & Bo"),
        ("{{visit.day}}", "Monday"),
        ("{{visit.missing}}|{{nowhere.at.all}}|{{absent}}", "||"),
        ("{{this.name}}", "Ana &amp; Bo"),
        ("{{count}} {{price}} {{whole}} {{yes}} {{no}} {{none}}", "3 1.5 2 true false "),
        ("{{tags}} {{visit}}", "a,b [object Object]"),
        ("{{quote}}", "&lt;a href&#x3D;&quot;x&quot;&gt;&#x27;q&#x27; &#x60;b&#x60;&lt;/a&gt;"),
        ("no tags at all", "no tags at all"),
    ],
)
def test_handlebars_variables_render_as_handlebars_does(source: str, expected: str) -> None:
    data = {
        "name": "Ana & Bo",
        "visit": {"day": "Monday"},
        "count": 3,
        "price": 1.5,
        "whole": 2.0,
        "yes": True,
        "no": False,
        "none": None,
        "tags": ["a", "b"],
        "quote": "<a href=\"x\">'q' `b`</a>",
    }
    assert render(source, data) == expected


def test_only_plain_variables_are_supported() -> None:
    assert unsupported_tags("{{a}} {{{b.c}}} {{ d }}") == []
    assert unsupported_tags("{{#if a}}x{{/if}} {{> partial}} {{formatDate d}}") == [
        "{{#if a}}",
        "{{/if}}",
        "{{> partial}}",
        "{{formatDate d}}",
    ]


def test_substitutions_are_plain_replacements_in_order() -> None:
    assert substitute("Hi -first-, -first- -x-", {"-first-": "Ana", "-x-": "y"}) == "Hi Ana, Ana y"
    assert substitute("{{name}} %name%", {"%name%": "Bo"}) == "{{name}} Bo"
    assert substitute(None, {"a": "b"}) is None


@pytest.mark.parametrize(
    ("email", "events"),
    [
        ("client@example.com", ("processed", "delivered")),
        ("client+bounce@example.com", ("processed", "bounce")),
        ("Client+Drop+x@example.com", ("dropped",)),
        ("a+defer@example.com", ("processed", "deferred", "delivered")),
        ("a+spam@example.com", ("processed", "delivered", "spamreport")),
        ("a+unsub@example.com", ("processed", "delivered", "unsubscribe")),
        ("a+open@example.com", ("processed", "delivered", "open", "click")),
        ("someone@bounce.example.com", ("processed", "delivered")),  # the local part decides
    ],
)
def test_magic_addresses(email: str, events: tuple[str, ...]) -> None:
    assert lifecycle_for(email) == events


def test_batches_are_encoded_as_sendgrid_sends_them() -> None:
    events: list[dict[str, object]] = [
        {"timestamp": 1, "event": "processed", "email": "é@example.com"},
        {"b": 2, "a": 1},
    ]
    payload = encode_batch(events)
    assert (
        payload
        == (
            '[{"email":"é@example.com","event":"processed","timestamp":1},\r\n{"a":1,"b":2}]\r\n'
        ).encode()
    )
    assert json.loads(payload) == events
