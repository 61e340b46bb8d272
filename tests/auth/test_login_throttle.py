"""Failed sign-ins are counted per account and address, per address, and per account: an attacker
is held back without locking the account's owner out, and one person mistyping holds back no one
else at their address."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.auth.throttle import LoginThrottle
from proirp.config import Settings
from tests.auth.conftest import Caller, NewUser
from tests.factories import PASSWORD

WRONG_PASSWORD = "not the password at all"
LIMIT = 3  # failures per account and address
PER_ADDRESS = 6


@pytest.fixture(autouse=True)
def strict(app: FastAPI, settings: Settings, api: TestClient) -> Iterator[None]:
    """Small limits, so that each test reaches them quickly."""
    limits = {"login_max_failures": LIMIT, "login_max_failures_per_address": PER_ADDRESS}
    app.state.login_throttle = LoginThrottle(settings.model_copy(update=limits))
    yield


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def assert_held_back(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) >= 1
    assert "token" not in response.json()


def test_an_attackers_failures_do_not_lock_the_owner_out(
    api: TestClient, caller: Caller, new_user: NewUser
) -> None:
    user = new_user()
    attacker, owner = caller(), caller()
    for _ in range(LIMIT):
        assert log_in(attacker, user.email, WRONG_PASSWORD).status_code == 401

    assert_held_back(log_in(attacker, user.email))  # even the right password, from there
    assert log_in(owner, user.email).status_code == 200


def test_an_account_failing_from_many_addresses_gives_each_one_guess(
    caller: Caller, new_user: NewUser
) -> None:
    """Once an account has failed LIMIT times elsewhere, it takes one guess from each address in
    the window: guessing from many addresses slows down, while its owner, from an address that
    has not failed, signs in."""
    user = new_user()
    attackers = [caller() for _ in range(LIMIT + 1)]
    for attacker in attackers:
        assert log_in(attacker, user.email, WRONG_PASSWORD).status_code == 401

    for attacker in attackers:
        assert_held_back(log_in(attacker, user.email, WRONG_PASSWORD))
    assert log_in(caller(), user.email, WRONG_PASSWORD).status_code == 401  # its first guess
    assert log_in(caller(), user.email).status_code == 200


def test_a_noisy_address_is_held_back_but_another_is_not(
    api: TestClient, caller: Caller, new_user: NewUser
) -> None:
    user = new_user()
    for guess in range(PER_ADDRESS):
        refused = log_in(api, f"guess{guess}-{user.email}", WRONG_PASSWORD)
        assert refused.status_code == 401

    assert_held_back(log_in(api, user.email))
    assert log_in(caller(), user.email).status_code == 200


def test_one_person_mistyping_holds_back_no_one_else_at_the_address(
    api: TestClient, new_user: NewUser
) -> None:
    mistyping, colleague = new_user(), new_user()
    codes = [log_in(api, mistyping.email, WRONG_PASSWORD).status_code for _ in range(3 * LIMIT)]
    assert codes == [401] * LIMIT + [429] * (2 * LIMIT)

    assert log_in(api, colleague.email).status_code == 200
    assert log_in(api, colleague.email, WRONG_PASSWORD).status_code == 401


def test_signing_in_does_not_count_against_the_address(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    """A practice behind one address signs in many times a day."""
    users = [new_user() for _ in range(PER_ADDRESS + 2)]
    for user in users:
        assert log_in(api, user.email).status_code == 200
    assert log_in(api, users[0].email, WRONG_PASSWORD).status_code == 401


def test_the_owner_who_mistyped_in_two_places_is_held_back_in_neither(
    caller: Caller, new_user: NewUser
) -> None:
    user = new_user()
    office, home = caller(), caller()
    for place in (office, home):
        for _ in range(LIMIT - 1):
            assert log_in(place, user.email, WRONG_PASSWORD).status_code == 401

    assert log_in(home, user.email).status_code == 200
    assert log_in(office, user.email).status_code == 200


def test_a_window_that_has_ended_counts_nothing(
    api: TestClient, app: FastAPI, db: Session, settings: Settings, new_user: NewUser
) -> None:
    brief = {"login_max_failures": 1, "login_failure_window_seconds": 5}
    app.state.login_throttle = LoginThrottle(settings.model_copy(update=brief))
    user = new_user()
    assert log_in(api, user.email, WRONG_PASSWORD).status_code == 401
    held_back = log_in(api, user.email)
    assert_held_back(held_back)

    time.sleep(int(held_back.headers["Retry-After"]))  # rounded up: the window has ended
    assert log_in(api, user.email, WRONG_PASSWORD).status_code == 401
    assert log_in(api, user.email, WRONG_PASSWORD).status_code == 429
