"""The BAA guard's scanner on what identifies anybody (a social security number) and on what
identifies the recipient however it is typed: their own phone number and email address."""

from __future__ import annotations

import pytest

from proirp.clients.models import Client
from proirp.clients.phi import ClientIdentity, find_phi
from proirp.comms.core.guard import email_phi_block, sms_phi_block

PHONE = "+12025550172"
EMAIL = "SecBeta@Example.com"
CLIENT = ClientIdentity("Avery", "Quinn", phone=PHONE, email=EMAIL)


@pytest.mark.parametrize(
    "text", ["SSN 078-05-1120 on file", "Your SSN: 078 05 1120.", "(078-05-1120)"]
)
def test_a_social_security_number_is_phi_for_anybody(text: str) -> None:
    assert find_phi(text) == ["a social security number"]


@pytest.mark.parametrize(
    "text",
    [
        "Call 202-555-0172",
        "Call +1 202 555 0172",
        "Call (202) 555-0172",
        "Mail to Chicago IL 60601-1234",
        "Closed 2030-01-15 and 01-15-2030",
        "Reference 1078-05-11200",
        "Call us at 555-0100",
    ],
)
def test_what_only_looks_like_a_social_security_number_is_not_one(text: str) -> None:
    assert "a social security number" not in find_phi(text)


@pytest.mark.parametrize(
    "text",
    [
        "+12025550172",
        "(202) 555-0172",
        "Text 202-555-0172 back",
        "202.555.0172",
        "2025550172",
        "Call +1 202 555 0172.",
        "Call 1-202-555-0172",
        "Is +1 (202) 555-0172 still yours?",
        "Option 4 202 555 0172",
    ],
)
def test_the_client_s_own_phone_number_is_found_however_it_is_typed(text: str) -> None:
    assert find_phi(text, client=CLIENT) == ["the client's phone number"]


@pytest.mark.parametrize(
    "text",
    [
        "Please call us at 555-0100.",
        "Please call us at (202) 555-0100.",
        "Call 202-555-0173",
        "Order 92025550172",
        "Reference 20255501723",
    ],
)
def test_other_numbers_are_not_the_client_s(text: str) -> None:
    assert "the client's phone number" not in find_phi(text, client=CLIENT)


@pytest.mark.parametrize(
    "text",
    [
        "secbeta@example.com",
        "Write to SECBETA@EXAMPLE.COM.",
        "<a href='mailto:secbeta@example.com'>",
    ],
)
def test_the_client_s_own_email_address_is_found_whatever_its_case(text: str) -> None:
    assert find_phi(text, client=CLIENT) == ["the client's email address"]


@pytest.mark.parametrize(
    "text", ["Write to office@example.com", "notsecbeta@example.com", "secbeta@example.community"]
)
def test_other_addresses_are_not_the_client_s(text: str) -> None:
    assert "the client's email address" not in find_phi(text, client=CLIENT)


def test_a_client_without_a_phone_or_an_email_has_none_to_find() -> None:
    assert find_phi("+12025550172 secbeta@example.com", client=ClientIdentity("A", "Q")) == []


def _client() -> Client:
    return Client(
        first_name="Avery", last_name="Quinn", phone=PHONE, email=EMAIL, timezone="America/Chicago"
    )


def test_the_guard_blocks_the_client_s_phone_and_email_without_quoting_them() -> None:
    sms = sms_phi_block(False, _client(), "Is (202) 555-0172 still your number?")
    assert sms is not None and sms.code == "phi_without_baa"
    assert "the client's phone number" in sms.message and "0172" not in sms.message
    email = email_phi_block(False, _client(), "Your details", "We have secbeta@example.com.")
    assert email is not None and email.field == "body"
    assert "the client's email address" in email.message and "secbeta" not in email.message
    assert sms_phi_block(True, _client(), "Is (202) 555-0172 still your number?") is None


@pytest.mark.parametrize(
    ("html", "kind"),
    [
        ("<p>Dear Av<b></b>ery,</p>", "the client's name"),
        ("<p>About your the&#114;apy</p>", "clinical information"),
        ("<p>Your <span>diag</span>nosis</p>", "clinical information"),
        ('<p><img alt="Quinn" src="cid:logo"></p>', "the client's name"),
    ],
)
def test_an_emails_html_is_read_as_its_reader_sees_it(html: str, kind: str) -> None:
    """Tags inside a word, or an entity for a letter, hid the word from the scanner."""
    block = email_phi_block(False, _client(), "News", "Please call our office.", html)
    assert block is not None and kind in block.message
    assert (
        email_phi_block(False, _client(), "News", None, "<p>Please call <b>our</b> office.</p>")
        is None
    )
