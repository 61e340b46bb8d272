"""Outlook's throttling and the fault knobs in the sandbox's Graph: the per-mailbox rate, the
four-requests-in-flight limit, throttle_next, injected 5xx and held answers."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.sandbox.conftest import MAILBOX, RunningMicrosoft, trusting_session

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

OTHER = "therapist@lakeside.onmicrosoft.com"


@pytest.fixture
def access(microsoft: RunningMicrosoft) -> str:
    token: str = microsoft.connect()["access_token"]
    return token


def configure(microsoft: RunningMicrosoft, **knobs: object) -> None:
    answer = microsoft.control("POST", "config", json=knobs)
    assert answer.status_code == 200, answer.text


def test_rate_knob_answers_429_with_retry_after(microsoft: RunningMicrosoft, access: str) -> None:
    configure(microsoft, mailbox_rps=2)
    answers = [microsoft.graph("GET", "me", access) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "ApplicationThrottled"
    assert error["message"] == "Application is over its MailboxRequestRate limit."
    # The rate is per mailbox: another account is not held back.
    other = microsoft.connect(account=OTHER)["access_token"]
    assert microsoft.graph("GET", "me", other).status_code == 200
    stats = microsoft.control("GET", "stats").json()
    assert stats["throttled"] == 1 and stats["concurrency_refused"] == 0


def test_fifth_request_in_flight_for_a_mailbox_is_429(
    microsoft: RunningMicrosoft, access: str
) -> None:
    other = microsoft.connect(account=OTHER)["access_token"]
    configure(microsoft, graph_hold_ms=600)
    tokens = [access] * 5 + [other]
    results: list[requests.Response | None] = [None] * len(tokens)
    barrier = threading.Barrier(len(tokens))

    def call(index: int) -> None:
        with trusting_session(microsoft.certificate) as session:
            session.get(microsoft.root + "/", timeout=10)  # the TLS handshake, before the race
            barrier.wait()
            results[index] = session.get(
                microsoft.graph_base + "/me",
                headers={"Authorization": f"Bearer {tokens[index]}"},
                timeout=10,
            )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    answers = [r for r in results if r is not None]
    assert len(answers) == len(tokens)
    mine = sorted(a.status_code for a in answers[:5])
    assert mine == [200, 200, 200, 200, 429]
    assert answers[5].status_code == 200  # the other mailbox has its own four
    refused = next(a for a in answers if a.status_code == 429)
    error = refused.json()["error"]
    assert error["code"] == "ApplicationThrottled"
    assert error["message"] == "Application is over its MailboxConcurrency limit."
    assert refused.headers["retry-after"] == "1"
    stats = microsoft.control("GET", "stats").json()
    assert stats["max_in_flight"] == {MAILBOX: 4, OTHER: 1}
    assert stats["concurrency_refused"] == 1 and stats["throttled"] == 1


def test_throttle_next_knob(microsoft: RunningMicrosoft, access: str) -> None:
    configure(microsoft, throttle_next=2, retry_after_seconds=7)
    first, second, third = (microsoft.graph("GET", "me", access) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "7"
    assert microsoft.control("GET", "config").json()["throttle_next"] == 0


def test_fault_knob_answers_503_then_recovers(microsoft: RunningMicrosoft, access: str) -> None:
    configure(microsoft, fail_next=1)
    failed = microsoft.graph(
        "GET", "me/calendarView?startDateTime=2026-01-01&endDateTime=2026-02-01", access
    )
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "ServiceUnavailable"
    assert failed.headers["retry-after"] == "1"
    assert microsoft.graph("GET", "me", access).status_code == 200
    configure(microsoft, fail_next=1, fail_status=504)
    assert microsoft.graph("GET", "me", access).status_code == 504
    assert microsoft.control("GET", "stats").json()["faults_5xx"] == 2


def test_timeout_knob_holds_the_answer(microsoft: RunningMicrosoft, access: str) -> None:
    configure(microsoft, timeout_next=1, timeout_seconds=0.3)
    began = time.monotonic()
    assert microsoft.graph("GET", "me", access).status_code == 200
    assert time.monotonic() - began >= 0.3
    assert microsoft.control("GET", "stats").json()["timeouts"] == 1


def test_reset_returns_knobs_and_counters(microsoft: RunningMicrosoft, access: str) -> None:
    configure(microsoft, mailbox_concurrency=2, mailbox_rps=5.5, graph_hold_ms=10)
    microsoft.graph("GET", "me", access)
    reset = microsoft.control("POST", "reset").json()
    assert reset["reset"] is True
    assert reset["config"]["mailbox_concurrency"] == 4
    assert reset["config"]["mailbox_rps"] is None and reset["config"]["graph_hold_ms"] == 0
    stats = microsoft.control("GET", "stats").json()
    assert stats["graph_requests"] == 0 and stats["max_in_flight"] == {}
    # Tokens are gone with the reset.
    assert microsoft.graph("GET", "me", access).status_code == 401


def test_knob_updates_are_checked(microsoft: RunningMicrosoft) -> None:
    bad = microsoft.control("POST", "config", json={"mailbox_concurrency": 0})
    assert bad.status_code == 400
    assert microsoft.control("POST", "config", json={"latency_ms": None}).status_code == 400
    assert microsoft.control("POST", "config", json={"mailbox_rps": None}).status_code == 200
