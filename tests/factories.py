"""Small typed factories for test data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import count

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from proirp.auth import totp
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import ApiToken, TokenKind, User
from proirp.auth.secrets import hash_password, new_token, token_digest
from proirp.clients.identity import address_hash
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.kit.time import utcnow

_serial = count(1)
PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per run


def sent_to(session: Session, channel: str, address: str) -> ColumnElement[bool]:
    """Messages to `address`, found as the product finds them: by its keyed hash (decision
    0036; the address itself is stored encrypted)."""
    return Communication.to_hash == address_hash(session, channel, address)


def sent_from(session: Session, number: str) -> ColumnElement[bool]:
    """Texts from `number`, by its keyed hash."""
    return Communication.from_hash == address_hash(session, "sms", number)


def number_conversation(session: Session, number: str) -> str:
    """The inbox's name for the conversation of a number no single client has."""
    return "number:" + address_hash(session, "sms", number)


@dataclass
class Staff:
    user: User
    token: str
    totp_secret: str | None = None  # an admin's second factor, to make codes with

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_user(session: Session, *, role: str = "staff", email: str | None = None) -> User:
    user = User(
        email=email or f"user{next(_serial)}@clinic.example.com",
        role=role,
        password_hash=_PASSWORD_HASH,
    )
    session.add(user)
    session.flush()
    return user


def enrol_second_factor(session: Session, user_id: str) -> str:
    """A confirmed second factor for the user (as if they had enrolled); its TOTP secret."""
    secret = totp.new_secret()
    session.add(SecondFactor(user_id=user_id, totp_secret=secret, confirmed_at=utcnow()))
    session.flush()
    return secret


def create_staff(session: Session, *, role: str = "staff") -> Staff:
    """A user with an API token, ready to call the API (an admin has a second factor, as every
    admin must)."""
    user = create_user(session, role=role)
    secret = enrol_second_factor(session, user.id) if role == "admin" else None
    token = new_token()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            kind=TokenKind.API,
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    session.flush()
    return Staff(user, token, secret)


def create_client(
    session: Session,
    *,
    first_name: str = "Avery",
    last_name: str = "Quinn",
    phone: str | None = "+12025550143",
    email: str | None = "avery.quinn@example.com",
    timezone: str = "America/Chicago",
) -> Client:
    client = Client(
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        email=email,
        timezone=timezone,
    )
    session.add(client)
    session.flush()
    return client
