"""SendGrid knobs: rate limit, latency, injected faults and timeouts; control routes and reset."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from python_http_client.exceptions import (
    HTTPError,
    InternalServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
)

from proirp.sandbox.sendgrid.ratelimit import AccountRateLimiter
from tests.sandbox.conftest import RunningSendGrid, StartSendGrid

SENDER = "noreply@sandbox.proirp.test"


def mail_body(to: str = "client@example.com") -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": to}]}],
        "from": {"email": SENDER},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }


def test_beyond_the_rate_is_429_with_sendgrids_headers(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(sendgrid_rps=1, app_base_url=None)
    assert sandbox.post_mail(mail_body()).status_code == 202
    before = int(time.time())
    refused = sandbox.post_mail(mail_body())
    assert refused.status_code == 429
    assert refused.json() == {
        "errors": [{"field": None, "message": "too many requests", "help": None}]
    }
    assert refused.headers["X-RateLimit-Limit"] == "1"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert before <= int(refused.headers["X-RateLimit-Reset"]) <= before + 2

    with pytest.raises(TooManyRequestsError) as exc:
        sandbox.client().client.mail.send.post(request_body=mail_body())
    assert exc.value.status_code == 429
    assert "X-RateLimit-Reset" in exc.value.headers
    assert len(sandbox.state.ledger()) == 1
    assert sandbox.state.stats()["rejected_429"] == 2


def test_rps_can_be_changed_while_running(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(app_base_url=None)
    assert [sandbox.post_mail(mail_body()).status_code for _ in range(3)] == [202] * 3
    assert sandbox.control("POST", "config", json={"rps": 1}).json()["rps"] == 1
    assert [sandbox.post_mail(mail_body()).status_code for _ in range(2)] == [202, 429]
    assert sandbox.control("POST", "config", json={"rps": None}).json()["rps"] is None
    assert sandbox.post_mail(mail_body()).status_code == 202


def test_a_client_pacing_at_the_rate_is_never_refused() -> None:
    now = [0.0]
    limiter = AccountRateLimiter(2.0, clock=lambda: now[0], wall_clock=lambda: 1000.0)
    first, second, third = (limiter.try_acquire() for _ in range(3))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)  # burst of 2
    assert (first.limit, first.remaining, second.remaining) == (2, 1, 0)
    assert third.reset_epoch == 1001  # both tokens back within a second
    for step in range(1, 20):  # exactly 2/s, some requests 20 ms early
        now[0] = 1.0 + step * 0.5 - (0.02 if step % 3 == 0 else 0.0)
        assert limiter.try_acquire().allowed
    assert AccountRateLimiter(None).try_acquire().allowed


def test_latency_is_added_and_concurrent_requests_overlap(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(latency_ms=200, app_base_url=None)
    started = time.monotonic()
    assert sandbox.post_mail(mail_body()).status_code == 202
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        codes = list(
            pool.map(
                lambda n: sandbox.post_mail(mail_body(f"c{n}@example.com")).status_code, range(4)
            )
        )
    assert codes == [202] * 4
    assert time.monotonic() - started < 0.7  # four in sequence would take 0.8 s


def test_fail_next_answers_5xx_and_records_nothing(mail_sandbox: RunningSendGrid) -> None:
    knobs = mail_sandbox.control("POST", "config", json={"fail_next": 2, "fail_status": 500}).json()
    assert knobs["fail_next"] == 2
    client = mail_sandbox.client()
    for _ in range(2):
        with pytest.raises(InternalServerError) as exc:
            client.send(mail_body())
        assert exc.value.status_code == 500
    assert mail_sandbox.state.ledger() == []
    assert client.send(mail_body()).status_code == 202

    mail_sandbox.control("POST", "config", json={"fail_next": 2, "fail_status": 502})
    with pytest.raises(HTTPError) as exc:
        client.send(mail_body())
    assert exc.value.status_code == 502
    assert json.loads(exc.value.body) == {
        "errors": [{"message": "bad gateway", "field": None, "help": None}]
    }
    mail_sandbox.control("POST", "config", json={"fail_next": 1, "fail_status": 503})
    with pytest.raises(ServiceUnavailableError):
        client.send(mail_body())
    assert mail_sandbox.state.stats()["faults_5xx"] == 4
    assert len(mail_sandbox.state.ledger()) == 1


def test_timeout_next_accepts_the_mail_but_answers_late(mail_sandbox: RunningSendGrid) -> None:
    mail_sandbox.control("POST", "config", json={"timeout_next": 1, "timeout_seconds": 1.0})
    client = mail_sandbox.client()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        client.client.mail.send.post(request_body=mail_body(), timeout=0.3)
    # The ambiguous case: the provider has it although the client got no answer.
    [entry] = mail_sandbox.state.ledger()
    assert entry["to"] == "client@example.com"
    assert mail_sandbox.state.stats()["timeouts"] == 1
    response = client.client.mail.send.post(
        request_body=mail_body("other@example.com"), timeout=0.3
    )
    assert response.status_code == 202  # only the next send was held


CONTROL_ROUTES = [
    ("GET", "config"),
    ("POST", "config"),
    ("GET", "ledger"),
    ("GET", "stats"),
    ("POST", "reset"),
    ("GET", "templates"),
    ("POST", "templates"),
    ("POST", "events"),
]


def test_control_routes_need_the_api_key(mail_sandbox: RunningSendGrid) -> None:
    for method, path in CONTROL_ROUTES:
        for headers in ({}, {"Authorization": "Bearer SG.wrong"}):
            response = mail_sandbox.control(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path)
            message = response.json()["errors"][0]["message"]
            assert message.startswith("The provided authorization"), (method, path)


INVALID_KNOBS: list[dict[str, object]] = [
    {"fail_status": 504},
    {"fail_next": -1},
    {"latency_ms": None},
    {"events": None},
    {"rps": 0},
    {"duplicate_every": -1},
    {"mps": 1},
    {"api_key_scopes": None},
    {"api_key_scopes": "mail.send"},
    {"api_key_scopes": [""]},
]


def test_invalid_knobs_are_refused(mail_sandbox: RunningSendGrid) -> None:
    before = mail_sandbox.control("GET", "config").json()
    for body in INVALID_KNOBS:
        response = mail_sandbox.control("POST", "config", json=body)
        assert response.status_code == 400, body
        assert set(response.json()["errors"][0]) == {"message", "field", "help"}
        assert mail_sandbox.control("GET", "config").json() == before


def test_config_shows_every_knob(start_sendgrid: StartSendGrid) -> None:
    sandbox = start_sendgrid(sendgrid_rps=5, latency_ms=0, event_delay_ms=30)
    assert sandbox.control("GET", "config").json() == {
        "rps": 5,
        "latency_ms": 0,
        "event_delay_ms": 30,
        "fail_next": 0,
        "fail_status": 503,
        "timeout_next": 0,
        "timeout_seconds": 30.0,
        "reset_next": 0,
        "outage": [],
        "event_retry_seconds": 0.6,
        "duplicate_every": 0,
        "events": True,
        "api_key_scopes": ["mail.send"],
    }


def test_reset_forgets_everything_and_restores_the_start_knobs(
    start_sendgrid: StartSendGrid,
) -> None:
    sandbox = start_sendgrid(sendgrid_rps=5)
    template = sandbox.control("POST", "templates", json={"subject": "s", "html": "h"}).json()
    assert sandbox.post_mail(mail_body()).status_code == 202
    assert sandbox.post_mail({"personalizations": []}).status_code == 400
    sandbox.control("POST", "config", json={"rps": 50, "latency_ms": 10, "duplicate_every": 2})
    stats = sandbox.control("GET", "stats").json()
    assert (stats["requests"], stats["accepted"], stats["rejected_4xx"]) == (2, 1, 1)
    assert len(sandbox.control("GET", "ledger").json()["messages"]) == 1

    reset = sandbox.control("POST", "reset")
    assert reset.status_code == 200 and reset.json()["reset"] is True
    assert sandbox.control("GET", "ledger").json() == {"messages": []}
    assert sandbox.control("GET", "templates").json() == {"templates": []}
    assert set(sandbox.control("GET", "stats").json().values()) == {0}
    knobs = sandbox.control("GET", "config").json()
    assert (knobs["rps"], knobs["latency_ms"], knobs["duplicate_every"]) == (5, 0, 0)
    body = mail_body() | {"template_id": template["id"]}
    assert sandbox.post_mail(body).status_code == 400  # the template went with the reset


def test_the_index_lists_sendgrid(mail_sandbox: RunningSendGrid) -> None:
    index = requests.get(mail_sandbox.root + "/", timeout=5).json()
    assert index["vendors"]["sendgrid"] == "/sendgrid/v3"
