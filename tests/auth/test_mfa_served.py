"""A code sent in many requests at once, against two `proirp serve` processes on one database:
exactly one of them signs in (a TOTP code and a recovery code are each taken by one conditional
UPDATE)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest

from tests.auth.served import Served, served
from tests.factories import PASSWORD

AT_ONCE = 12


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Failures here are the requests that lose the race: keep the login limits out of the way.
    limits = {"LOGIN_MAX_FAILURES": "1000", "LOGIN_MAX_FAILURES_PER_ADDRESS": "1000"}
    with served(tmp_path_factory.mktemp("mfa"), instances=2, settings=limits) as stack:
        yield stack


def _enrolled(app: Served, email: str) -> tuple[str, list[str]]:
    """The account, with two-step sign-in set up over the API: (its secret, recovery codes)."""
    app.add_user(email)
    token = app.log_in(email).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=app.urls[0], headers=auth, timeout=60) as api:
        secret: str = api.post("/auth/mfa/enrolment").json()["enrolment"]["secret"]
        confirmed = api.post("/auth/mfa/enrolment/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def _at_once(app: Served, email: str, code: str) -> list[tuple[int, str]]:
    challenges = []
    for _ in range(AT_ONCE):
        asked = app.log_in(email, PASSWORD)
        assert asked.json()["error"]["code"] == "mfa_required", asked.text
        challenges.append(asked.json()["error"]["challenge"])

    def send(index: int) -> tuple[int, str]:
        body = {"challenge": challenges[index], "code": code}
        answer = httpx.post(f"{app.urls[index % 2]}/auth/login/mfa", json=body, timeout=60)
        return answer.status_code, answer.json().get("error", {}).get("code", "")

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        return list(pool.map(send, range(AT_ONCE)))


def test_one_totp_code_sent_at_once_signs_in_once(app: Served) -> None:
    email = "totp.at.once@clinic.example.com"
    secret, _codes = _enrolled(app, email)
    # The next step's code: never the one the enrolment used, whenever this runs.
    answers = _at_once(app, email, pyotp.TOTP(secret).at(time.time() + 30))
    assert sorted(answers) == [(200, "")] + [(401, "invalid_code")] * (AT_ONCE - 1)


def test_one_recovery_code_sent_at_once_signs_in_once(app: Served) -> None:
    email = "recovery.at.once@clinic.example.com"
    _secret, codes = _enrolled(app, email)
    answers = _at_once(app, email, codes[0])
    assert sorted(answers) == [(200, "")] + [(401, "invalid_code")] * (AT_ONCE - 1)
