"""A new password must be hard to guess: common and repetitive ones are refused, naming the field
and saying why, without repeating the password."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from proirp.auth.secrets import generate_password, verify_password
from proirp.auth.service import create_user
from proirp.kit.errors import ValidationFailed

GUESSABLE = ["aaaaaaaaaaaa", " " * 12, "password1234", "qwertyuiop12", "123456789012"]
GUESSABLE_IDS = ["one letter repeated", "twelve spaces", "common", "keyboard row", "digits"]


def new_email() -> str:
    return f"kim.{uuid.uuid4().hex[:8]}@clinic.example.com"


@pytest.mark.parametrize("password", GUESSABLE, ids=GUESSABLE_IDS)
def test_a_guessable_password_is_refused(db: Session, password: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        create_user(db, email=new_email(), role="staff", password=password, actor=None)

    refused = caught.value
    assert refused.status_code == 422
    body = refused.to_body()
    assert list(body["error"]["fields"]) == ["password"]
    reason = body["error"]["fields"]["password"]
    assert reason.startswith("too easy to guess")
    assert len(reason) > len("too easy to guess: ")  # says why, and what would do
    assert password not in body["error"]["message"] + reason


def test_a_password_made_of_the_email_is_refused(db: Session) -> None:
    email = new_email()
    with pytest.raises(ValidationFailed) as caught:
        create_user(db, email=email, role="staff", password=email.upper(), actor=None)
    assert list(caught.value.fields or {}) == ["password"]


def test_a_long_password_is_judged_and_accepted(db: Session) -> None:
    """The estimator looks at the first 72 characters; a longer passphrase is still taken."""
    password = "lantern orbit cobalt meadow " * 5
    user = create_user(db, email=new_email(), role="staff", password=password, actor=None)
    assert verify_password(user.password_hash, password)


def test_a_password_longer_than_a_login_takes_is_refused(db: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        create_user(db, email=new_email(), role="staff", password="x7#Lq" * 300, actor=None)
    assert list(caught.value.fields or {}) == ["password"]


@pytest.mark.parametrize(
    "password", ["lantern orbit cobalt meadow", "Tr0ub4dor&3-harbour", generate_password()]
)
def test_a_strong_password_or_passphrase_is_accepted(db: Session, password: str) -> None:
    user = create_user(db, email=new_email(), role="clinician", password=password, actor=None)
    assert verify_password(user.password_hash, password)
