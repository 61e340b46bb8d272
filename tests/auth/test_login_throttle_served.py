"""The sign-in limits over real HTTP, against two `proirp serve` processes on one database: the
count is atomic (tries at once cannot all slip under the limit) and shared by the processes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.auth.served import Served, served

WRONG_PASSWORD = "not the password at all"
LIMIT = 5
AT_ONCE = 20


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Every try comes from 127.0.0.1: the per-address limit stays out of the way here.
    limits = {"LOGIN_MAX_FAILURES": str(LIMIT), "LOGIN_MAX_FAILURES_PER_ADDRESS": "1000"}
    with served(tmp_path_factory.mktemp("throttle"), instances=2, settings=limits) as stack:
        yield stack


def test_wrong_passwords_sent_at_once_are_checked_no_more_than_the_limit(app: Served) -> None:
    email = "at.once@clinic.example.com"
    app.add_user(email)

    def attempt(index: int) -> tuple[int, str | None]:
        response = app.log_in(email, WRONG_PASSWORD, via=index % 2)
        return response.status_code, response.headers.get("Retry-After")

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        answers = list(pool.map(attempt, range(AT_ONCE)))

    codes = sorted(code for code, _ in answers)
    assert codes == [401] * LIMIT + [429] * (AT_ONCE - LIMIT)
    assert all(int(wait or 0) >= 1 for code, wait in answers if code == 429)
    assert len(app.audit_ips("LOGIN_FAILED")) == LIMIT


def test_the_count_is_shared_by_the_processes(app: Served) -> None:
    email, other = "shared@clinic.example.com", "other@clinic.example.com"
    app.add_user(email)
    app.add_user(other)
    for _ in range(LIMIT):
        assert app.log_in(email, WRONG_PASSWORD, via=0).status_code == 401

    assert app.log_in(email, via=1).status_code == 429
    assert app.log_in(other, via=1).status_code == 200
