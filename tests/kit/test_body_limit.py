"""Request bodies over their address's limit are refused with 413 before anything reads them: no
sign-in is tried, no webhook is audited, and the server's memory does not grow with the body.

Over real HTTP to `proirp serve`, with a plain socket: a client that announces 100 MB, and one
that streams a chunked body without announcing its size."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from proirp.audit.models import AuditLog
from tests.live import LiveStack, live_stack

MiB = 1024 * 1024
LOGIN_EMAIL = "frontdesk@clinic.example.com"  # the live stack's admin (password "x" * 16)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("body-limit")) as stack:
        yield stack


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    bytes_sent: int

    def json(self) -> dict[str, object]:
        answer: dict[str, object] = json.loads(self.body)
        return answer


def post_raw(
    live: LiveStack, path: str, chunks: Iterable[bytes], *, length: int | None = None
) -> RawAnswer:
    """POST over a plain socket: with `length` a Content-Length, else a chunked body. Sending
    stops as soon as the server answers (or hangs up); the answer is read within 15 seconds."""
    address = urlsplit(live.app_url)
    sock = socket.create_connection((address.hostname, address.port), timeout=15)
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    sent = 0
    with sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed)
            data = chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk)
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            if length is None:
                sock.sendall(b"0\r\n\r\n")
        return _read_answer(sock, sent)


def _read_answer(sock: socket.socket, sent: int) -> RawAnswer:
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        if not received:
            raise AssertionError(f"the server hung up without answering: {data!r}")
        data += received
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        received = sock.recv(65536)
        if not received:
            break
        body += received
    return RawAnswer(int(status_line.split()[1]), headers, body, sent)


def pieces(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def audit_count(live: LiveStack, action: str) -> int:
    with live.session() as session:
        stmt = sql_select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
        return int(session.scalar(stmt) or 0)


def peak_memory_kib(live: LiveStack) -> int:
    """The serving process's peak resident memory (VmHWM), in KiB."""
    popen = live.processes["serve"].popen
    assert popen is not None
    status = Path(f"/proc/{popen.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1])


def assert_too_large(answer: RawAnswer, limit: int) -> None:
    assert answer.status == 413, answer.body[:500]
    error = answer.json()["error"]
    assert isinstance(error, dict)
    assert error["code"] == "payload_too_large"
    assert error["fields"] == {"body": f"is larger than {limit} bytes"}


def test_an_announced_100_mb_login_is_refused_before_its_body_is_read(live: LiveStack) -> None:
    """The server answers as soon as it sees Content-Length, having read nothing more."""
    answer = post_raw(live, "/auth/login", pieces(MiB), length=100 * 1000 * 1000)
    assert_too_large(answer, MiB)
    assert answer.headers["connection"] == "close"


def test_an_oversized_login_is_never_tried(live: LiveStack) -> None:
    """A whole, well-formed login over the limit: neither audited nor counted by the throttle
    (six of them would lock the account after LOGIN_MAX_FAILURES=5)."""
    failed_before = audit_count(live, "LOGIN_FAILED")
    padded = json.dumps(
        {"email": LOGIN_EMAIL, "password": "not-the-password", "padding": "x" * (MiB + 10)}
    ).encode()
    for _ in range(6):
        answer = post_raw(live, "/auth/login", [padded], length=len(padded))
        assert_too_large(answer, MiB)
    assert audit_count(live, "LOGIN_FAILED") == failed_before
    signed_in = httpx.post(
        f"{live.app_url}/auth/login", json={"email": LOGIN_EMAIL, "password": "x" * 16}
    )
    # Not throttled: the right password is taken, and the admin is asked for their code.
    assert signed_in.status_code == 401, signed_in.text
    assert signed_in.json()["error"]["code"] == "mfa_required"


def test_a_chunked_webhook_body_is_refused_as_it_arrives(live: LiveStack) -> None:
    """No Content-Length: the bytes are counted as they come, and the answer comes once they
    pass the limit; the 50 MB are neither sent whole nor held in memory."""
    rejected_before = audit_count(live, "WEBHOOK_REJECTED")
    peak_before = peak_memory_kib(live)
    answer = post_raw(live, "/webhooks/sendgrid/events", pieces(50 * MiB))
    assert_too_large(answer, 2 * MiB)
    assert answer.bytes_sent < 25 * MiB
    assert peak_memory_kib(live) - peak_before < 20 * 1024
    assert audit_count(live, "WEBHOOK_REJECTED") == rejected_before


def test_each_address_has_its_limit(live: LiveStack) -> None:
    """SendGrid posts events in batches of up to 768 KB (a little more with the last event); the
    events address takes them (here a batch too big for most addresses is read, and refused for
    its signature), while the rest of the API keeps the general limit."""
    batch = json.dumps([{"event": "delivered", "padding": "x" * 1000}] * 1200).encode()
    assert MiB < len(batch) < 2 * MiB
    headers = {"content-type": "application/json"}
    events = httpx.post(f"{live.app_url}/webhooks/sendgrid/events", content=batch, headers=headers)
    assert events.status_code == 403, events.text
    assert events.json()["error"]["code"] == "bad_signature"
    with live.api() as api:
        clients = api.post("/clients", content=batch, headers=headers)
        # Messages and templates carry an email's content (up to 1,000,000 characters of HTML).
        template = api.post("/templates", content=batch, headers=headers)
    assert clients.status_code == 413
    assert clients.json()["error"]["fields"] == {"body": f"is larger than {MiB} bytes"}
    assert template.status_code == 422, template.text


def test_the_limits_come_from_settings(tmp_path: Path) -> None:
    small = {"MAX_REQUEST_BODY_BYTES": "2048", "SENDGRID_EVENTS_MAX_BODY_BYTES": str(800 * 1024)}
    with live_stack(tmp_path, settings=small) as stack:
        login = {"email": LOGIN_EMAIL, "password": "x" * 16, "padding": "x" * 4096}
        refused = httpx.post(f"{stack.app_url}/auth/login", json=login)
        assert refused.status_code == 413
        assert refused.json()["error"]["fields"] == {"body": "is larger than 2048 bytes"}
        events = httpx.post(f"{stack.app_url}/webhooks/sendgrid/events", content=b"[" * 900_000)
        assert events.status_code == 413
