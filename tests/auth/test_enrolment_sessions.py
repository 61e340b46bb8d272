"""An enrolment belongs to the session that started it: another session of the account (opened
with the password alone, perhaps by someone who has it) neither sees its secret nor confirms it,
and confirming it ends every other session and token of the account, which were opened without
a second factor and would otherwise become full sessions the moment it is on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import RequestOrigin
from proirp.auth import second_factor
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import User
from proirp.auth.secrets import csrf_for
from proirp.kit.db import new_id
from proirp.kit.errors import Conflict
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import bearer, log_in, phone_code
from tests.comms.rows import own_database


def _signed_in(api: TestClient, email: str) -> str:
    answer = log_in(api, email)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def _started(api: TestClient, token: str) -> str:
    started = api.post("/auth/mfa/enrolment", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret: str = started.json()["enrolment"]["secret"]
    return secret


def test_another_session_neither_sees_nor_confirms_the_enrolment(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    theirs, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    secret = _started(api, mine)

    api.cookies.set("proirp_session", theirs)
    page = api.get("/app/mfa")
    api.cookies.clear()
    assert page.status_code == 200
    assert secret not in page.text

    confirmed = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(theirs)
    )
    assert confirmed.status_code == 409, confirmed.text
    assert confirmed.json()["error"]["code"] == "mfa_enrolment_not_started"
    # The session that started it still finishes it.
    done = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(mine)
    )
    assert done.status_code == 200, done.text


def test_turning_it_on_ends_the_accounts_other_sessions(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    other, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    assert api.get("/users", headers=bearer(other)).status_code == 403  # held to enrolling
    secret = _started(api, mine)
    done = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(mine)
    )
    assert done.status_code == 200, done.text

    assert api.get("/users", headers=bearer(other)).status_code == 401
    assert api.get("/auth/me", headers=bearer(other)).status_code == 401
    assert api.get("/users", headers=bearer(mine)).status_code == 200


def test_the_page_that_started_it_shows_its_secret_and_no_other(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    other, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    api.cookies.set("proirp_session", mine)
    form = {"csrf_token": csrf_for(mine)}
    assert api.post("/app/mfa/enrol", data=form, follow_redirects=False).status_code == 303
    secret = db.scalar(select(SecondFactor.totp_secret).where(SecondFactor.user_id == admin.id))
    assert secret is not None
    assert secret in api.get("/app/mfa").text
    api.cookies.set("proirp_session", other)
    assert secret not in api.get("/app/mfa").text
    api.cookies.clear()


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("enrolment")) as factory:
        yield factory


def _owner_enrolling(factory: sessionmaker[Session]) -> tuple[User, str]:
    """An admin whose session "owner" has started enrolling: the account, and the secret."""
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="admin", password_hash="x")
        session.add(user)
        session.commit()
        enrolment = second_factor.start_enrolment(
            session, user, token_id="owner", origin=RequestOrigin(), issuer="Practice"
        )
        session.commit()
        return user, enrolment.secret


def test_a_start_racing_the_owners_confirmation_waits_and_changes_nothing(
    factory: sessionmaker[Session],
) -> None:
    """Someone with the password starts again while the owner's session confirms: the start
    waits for the confirmation, then finds the factor on (409). Had it gone first unseen, the
    account would be on with a secret the other session holds."""
    user, secret = _owner_enrolling(factory)
    owner = factory()
    mine = owner.get(User, user.id)
    assert mine is not None
    code = pyotp.TOTP(secret).now()
    second_factor.confirm_enrolment(owner, mine, code, token_id="owner", origin=RequestOrigin())
    seen: list[str] = []

    def other() -> None:
        with factory() as session:
            someone = session.get(User, user.id)
            assert someone is not None
            try:
                second_factor.start_enrolment(
                    session, someone, token_id="other", origin=RequestOrigin(), issuer="Practice"
                )
                session.commit()
                seen.append("started")
            except Conflict as refused:
                seen.append(refused.code or "")

    waiting = threading.Thread(target=other)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # it waits for the owner's confirmation
    owner.commit()
    owner.close()
    waiting.join(30)
    assert seen == ["mfa_already_enabled"]
    with factory() as session:
        factor = session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))
        assert factor is not None and factor.totp_secret == secret


def test_a_confirmation_racing_another_start_waits_and_is_refused(
    factory: sessionmaker[Session],
) -> None:
    """The other way round: a start not yet committed holds the enrolment; the owner's
    confirmation waits for it, then finds the enrolment another session's (409), never turning
    the factor on with a secret the other session holds."""
    user, secret = _owner_enrolling(factory)
    other = factory()
    someone = other.get(User, user.id)
    assert someone is not None
    second_factor.start_enrolment(
        other, someone, token_id="other", origin=RequestOrigin(), issuer="Practice"
    )
    seen: list[str] = []

    def owner() -> None:
        with factory() as session:
            me = session.get(User, user.id)
            assert me is not None
            code = pyotp.TOTP(secret).now()
            try:
                second_factor.confirm_enrolment(
                    session, me, code, token_id="owner", origin=RequestOrigin()
                )
                session.commit()
                seen.append("confirmed")
            except Conflict as refused:
                seen.append(refused.code or "")

    waiting = threading.Thread(target=owner)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()
    other.commit()
    other.close()
    waiting.join(30)
    assert seen == ["mfa_enrolment_not_started"]
    with factory() as session:
        factor = session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))
        assert factor is not None and factor.confirmed_at is None
