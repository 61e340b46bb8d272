"""Rate limit, latency, injected faults and timeouts, and the control endpoints."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from proirp.sandbox.twilio.ratelimit import SenderRateLimiter
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    OTHER_NUMBER,
    OUR_NUMBER,
    RunningSandbox,
    StartSandbox,
)


def send(sandbox: RunningSandbox, from_: str = OUR_NUMBER) -> requests.Response:
    return requests.post(
        sandbox.messages_url(),
        data={"To": CLIENT_NUMBER, "From": from_, "Body": "x"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )


def test_beyond_the_rate_is_429_with_retry_after(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(twilio_mps=1)
    assert send(sandbox).status_code == 201
    refused = send(sandbox)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == 20429
    assert send(sandbox, from_=OTHER_NUMBER).status_code == 201  # the limit is per sender
    assert len(sandbox.state.ledger()) == 2
    assert sandbox.state.stats()["rejected_429"] == 1

    client = sandbox.client()
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
    assert exc.value.status == 429 and exc.value.code == 20429


def test_a_client_pacing_at_the_rate_is_never_refused(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(twilio_mps=10)
    started = time.monotonic()
    statuses = []
    for n in range(15):
        # Sleep to the schedule, not by a fixed interval, as a well-behaved client would.
        time.sleep(max(0.0, started + n / 10 - time.monotonic()))
        statuses.append(send(sandbox).status_code)
    assert statuses == [201] * 15


def test_token_bucket_admits_exact_pacing_and_its_burst_only() -> None:
    now = [0.0]
    limiter = SenderRateLimiter(2.0, clock=lambda: now[0])
    assert [limiter.try_acquire("a") for _ in range(3)] == [True, True, False]  # burst of 2
    for step in range(1, 20):  # exactly 2/s, some requests 20 ms early
        now[0] = step * 0.5 - (0.02 if step % 3 == 0 else 0.0)
        assert limiter.try_acquire("a")
        assert not limiter.try_acquire("a")
    slow = SenderRateLimiter(0.5, clock=lambda: now[0])
    assert slow.try_acquire("b")
    now[0] += 1.0
    assert not slow.try_acquire("b")
    now[0] += 1.0
    assert slow.try_acquire("b")
    assert SenderRateLimiter(None).try_acquire("c")


def test_mps_can_be_changed_while_running(sandbox: RunningSandbox) -> None:
    assert [send(sandbox).status_code for _ in range(3)] == [201] * 3
    assert sandbox.control("POST", "config", json={"mps": 1}).json()["mps"] == 1
    assert [send(sandbox).status_code for _ in range(2)] == [201, 429]
    assert sandbox.control("POST", "config", json={"mps": None}).json()["mps"] is None
    assert send(sandbox).status_code == 201


def test_latency_is_added_and_concurrent_requests_overlap(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(latency_ms=300)
    started = time.monotonic()
    assert send(sandbox).status_code == 201
    assert time.monotonic() - started >= 0.3

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: send(sandbox).status_code, range(6)))
    assert codes == [201] * 6
    assert time.monotonic() - started < 1.2  # six in sequence would take 1.8 s


def test_fail_next_answers_5xx_without_creating(sandbox: RunningSandbox) -> None:
    knobs = sandbox.control("POST", "config", json={"fail_next": 2, "fail_status": 500}).json()
    assert knobs["fail_next"] == 2
    client = sandbox.client()
    for _ in range(2):
        with pytest.raises(TwilioRestException) as exc:
            client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
        assert exc.value.status == 500 and exc.value.code == 20500
    assert sandbox.state.ledger() == []
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").status == "queued"

    sandbox.control("POST", "config", json={"fail_next": 1, "fail_status": 503})
    assert send(sandbox).json()["code"] == 20503
    assert sandbox.state.stats()["faults_5xx"] == 3
    assert len(sandbox.state.ledger()) == 1


def test_timeout_next_creates_the_message_but_answers_late(sandbox: RunningSandbox) -> None:
    sandbox.control("POST", "config", json={"timeout_next": 1, "timeout_seconds": 1.0})
    slow_client = sandbox.client(timeout=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        slow_client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
    [entry] = sandbox.state.ledger()  # the ambiguous case: it exists although we got no answer
    assert entry["to"] == CLIENT_NUMBER
    assert sandbox.state.stats()["timeouts"] == 1
    # Only the next create was slowed.
    assert slow_client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="y").sid


def test_control_endpoints_need_credentials(sandbox: RunningSandbox) -> None:
    for method, path in [
        ("GET", "config"),
        ("POST", "config"),
        ("GET", "ledger"),
        ("GET", "stats"),
        ("POST", "reset"),
        ("POST", "inbound"),
    ]:
        for auth in [None, (ACCOUNT_SID, "wrong")]:
            response = sandbox.control(method, path, auth=auth, json={})
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == 20003


@pytest.mark.parametrize(
    "body",
    [
        {"fail_status": 502},
        {"fail_next": -1},
        {"latency_ms": None},
        {"mps": 0},
        {"unknown": 1},
    ],
)
def test_invalid_knobs_are_refused(sandbox: RunningSandbox, body: dict[str, object]) -> None:
    before = sandbox.control("GET", "config").json()
    assert sandbox.control("POST", "config", json=body).status_code == 400
    assert sandbox.control("GET", "config").json() == before


def test_ledger_stats_and_reset(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(twilio_mps=5, latency_ms=0)
    client = sandbox.client()
    sid = client.messages.create(
        to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x", status_callback="http://127.0.0.1:9/cb"
    ).sid
    with pytest.raises(TwilioRestException):
        client.messages.create(to="+15005550001", from_=OUR_NUMBER, body="x")
    sandbox.control(
        "POST", "inbound", json={"from": CLIENT_NUMBER, "to": OUR_NUMBER, "body": "STOP"}
    )
    sandbox.control("POST", "config", json={"mps": 50, "latency_ms": 10, "fail_next": 3})

    [entry] = sandbox.control("GET", "ledger").json()["messages"]  # what was sent
    assert entry["sid"] == sid and entry["status_callback"] == "http://127.0.0.1:9/cb"
    everything = sandbox.control("GET", "ledger", params={"include_inbound": "true"}).json()
    assert [m["direction"] for m in everything["messages"]] == ["outbound-api", "inbound"]
    assert [m["direction"] for m in sandbox.state.ledger(include_inbound=True)] == [
        "outbound-api",
        "inbound",
    ]
    stats = sandbox.control("GET", "stats").json()
    assert stats["created"] == 1 and stats["rejected_4xx"] == 1 and stats["inbound"] == 1
    assert sandbox.control("GET", "optouts").json()["opt_outs"] == [
        {"from": OUR_NUMBER, "to": CLIENT_NUMBER}
    ]

    assert sandbox.control("POST", "reset").status_code == 200
    assert sandbox.control("GET", "ledger").json() == {"messages": []}
    assert set(sandbox.control("GET", "stats").json().values()) == {0}
    knobs = sandbox.control("GET", "config").json()
    assert (knobs["mps"], knobs["latency_ms"], knobs["fail_next"]) == (5, 0, 0)
    assert sandbox.state.opt_outs() == []
    # Opt-outs are gone with the reset.
    assert client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").status == "queued"


def test_reset_gives_every_sender_a_fresh_rate_allowance(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox(twilio_mps=1)
    assert send(sandbox).status_code == 201
    sandbox.state.reset()
    assert send(sandbox).status_code == 201
