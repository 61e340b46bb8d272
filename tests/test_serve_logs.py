"""What `proirp serve` (and the worker beside it) writes to its log, as an operator reads it, in
sandbox mode: one line per request, without query strings or tokens; an unhandled error by its
type, route and request id, never its text; the queue's housekeeping kept out of INFO."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.comms.conftest import add_client, send, wait_for_status
from tests.live import SANDBOX_MODE, LiveStack, free_port, live_stack, wait_until


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings = {**SANDBOX_MODE, "SANDBOX_TLS_PORT": str(free_port())}
    with live_stack(tmp_path_factory.mktemp("serve-logs"), settings=settings) as stack:
        yield stack


def serve_log(live: LiveStack) -> str:
    return live.processes["serve"].log_path.read_text()


def consumer_log(live: LiveStack) -> str:
    """The log of the process running the queue's consumer (serve itself with SQLite's)."""
    return live.processes["worker" if "worker" in live.processes else "serve"].log_path.read_text()


def logged_line(live: LiveStack, event: str, request_id: str) -> str:
    def found() -> bool:
        return any(event in line and request_id in line for line in serve_log(live).splitlines())

    assert wait_until(found, timeout=10), serve_log(live)[-3000:]
    lines = serve_log(live).splitlines()
    return next(line for line in lines if event in line and request_id in line)


def test_each_request_is_logged_without_its_query_string_or_tokens(live: LiveStack) -> None:
    assert httpx.get(f"{live.app_url}/healthz").json()["mode"] == "sandbox mode"
    with live.api() as api:
        search = api.get("/clients", params={"q": "Zebediah"})
    unsubscribe = httpx.get(f"{live.app_url}/unsubscribe/gAAAAABSecretUnsubscribeToken")
    callback = httpx.get(
        f"{live.app_url}/calendar/google/callback",
        params={"code": "4/0AbSecretCode", "state": "SecretState"},
    )
    expected = [
        (search, "GET", "/clients"),
        (unsubscribe, "GET", "/unsubscribe/{token}"),
        (callback, "GET", "/calendar/{provider}/callback"),
    ]
    for response, method, path in expected:
        line = logged_line(live, "http.request", response.headers["x-request-id"])
        assert f"method={method}" in line
        assert f"path={path}" in line
        assert f"status={response.status_code}" in line
        assert "duration_ms=" in line
    output = serve_log(live)
    for secret in ("Zebediah", "SecretUnsubscribeToken", "SecretCode", "SecretState"):
        assert secret not in output


def test_an_unhandled_error_is_logged_by_type_route_and_request_id_only(live: LiveStack) -> None:
    """A database error carries the statement's parameters (here a client's name and number
    searched for): the log names the error's type, the route and the request, and the answer
    is the product's 500, with the request id to quote."""
    with live.engine.begin() as connection:
        connection.execute(text("ALTER TABLE clients RENAME TO clients_elsewhere"))
    try:
        with live.api() as api:
            answer = api.get("/clients", params={"q": "Zebediah 2025550199"})
    finally:
        with live.engine.begin() as connection:
            connection.execute(text("ALTER TABLE clients_elsewhere RENAME TO clients"))
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    request_id = answer.headers["x-request-id"]
    line = logged_line(live, "http.unhandled_error", request_id)
    assert "path=/clients" in line
    assert "method=GET" in line
    assert "error_type=OperationalError" in line or "error_type=ProgrammingError" in line
    access = logged_line(live, "http.request", request_id)
    assert "status=500" in access
    output = serve_log(live)
    for value in ("Zebediah", "zebediah", "2025550199", "[parameters", "Exception in ASGI"):
        assert value not in output


def test_the_queue_keeps_its_housekeeping_out_of_the_info_log(live: LiveStack) -> None:
    """The sweeper runs every minute (and at start); Huey's lines about it are DEBUG, while the
    lines about real work (a message sent) stay INFO."""
    comm_id = send(live, add_client(live, "+12025550143")).json()["communication"]["id"]
    wait_for_status(live, comm_id, {"delivered"})

    def sent_logged() -> bool:
        return "comms.deliver_sms" in consumer_log(live)

    assert wait_until(sent_logged, timeout=10)
    info = [line for line in consumer_log(live).splitlines() if line.startswith("INFO huey")]
    assert any("comms.deliver_sms" in line for line in info), info
    assert not [line for line in info if "comms.sweep" in line or "sync_all" in line]
    assert "The following commands are available" not in consumer_log(live)


def test_a_job_s_lines_carry_the_id_of_the_request_that_queued_it(live: LiveStack) -> None:
    """An operator follows a request from the API into the work it queued: the SMS that
    POST /comms queued is sent by a job whose log lines carry that request's id and its name."""
    answer = send(live, add_client(live, "+12025550144"))
    request_id = answer.headers["x-request-id"]
    wait_for_status(live, answer.json()["communication"]["id"], {"delivered"})

    def job_logged() -> list[str]:
        return [
            line
            for line in consumer_log(live).splitlines()
            if f"request_id={request_id}" in line and "job=comms.deliver_sms" in line
        ]

    assert wait_until(lambda: bool(job_logged()), timeout=10), consumer_log(live)[-3000:]
    assert any("executed in" in line for line in job_logged())
    assert "+12025550144" not in consumer_log(live)
