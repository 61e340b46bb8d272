"""Graph's JSON in our terms, Microsoft's errors as ours, and the Graph session's retries (against
a small local HTTP server that throttles like Graph)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.calendar import EventInput, GrantRevoked, SyncTokenExpired
from proirp.integrations.microsoft.errors import api_error, token_error
from proirp.integrations.microsoft.graph import http_session, to_event, to_graph


def test_a_graph_event_in_our_terms() -> None:
    event = to_event(
        {
            "@odata.etag": 'W/"abc"',
            "id": "AAMkAD=",
            "subject": "Intake session",
            "body": {"contentType": "text", "content": "Bring the forms"},
            "start": {"dateTime": "2026-12-01T15:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T15:50:00.0000000", "timeZone": "UTC"},
            "location": {"displayName": "Room 2"},
            "isAllDay": False,
            "isCancelled": False,
            "showAs": "busy",
            "lastModifiedDateTime": "2026-11-27T10:00:00.1234567Z",
        }
    )
    assert (event.id, event.status, event.title, event.location) == (
        "AAMkAD=",
        "confirmed",
        "Intake session",
        "Room 2",
    )
    assert event.start_at == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert event.end_at == datetime(2026, 12, 1, 15, 50, tzinfo=UTC)
    assert event.description == "Bring the forms"
    assert event.updated_at == datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def test_a_zoned_time_is_converted_and_removed_entries_are_cancellations() -> None:
    zoned = to_event(
        {
            "id": "x",
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "America/Chicago"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "America/Chicago"},
        }
    )
    assert zoned.start_at == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert to_event({"id": "gone", "@removed": {"reason": "deleted"}}).status == "cancelled"
    assert to_event({"id": "c", "isCancelled": True}).status == "cancelled"


def test_a_new_event_keeps_its_wall_clock_time_and_zone() -> None:
    body = to_graph(
        EventInput(
            title="Intake",
            start_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
            end_at=datetime(2026, 12, 1, 16, 0, tzinfo=UTC),
            time_zone="America/Chicago",
            location="Room 2",
        )
    )
    assert body["start"] == {"dateTime": "2026-12-01T09:00:00", "timeZone": "America/Chicago"}
    assert body["location"] == {"displayName": "Room 2"}
    assert "body" not in body


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        ({"error": "invalid_grant", "error_codes": [50173]}, GrantRevoked),
        ({"error": "interaction_required", "error_codes": [50076]}, GrantRevoked),
        ({"error": "temporarily_unavailable"}, ProviderTemporaryError),
        ({"error": "invalid_client", "error_codes": [7000215]}, ProviderPermanentError),
    ],
)
def test_token_errors(result: dict[str, object], kind: type[Exception]) -> None:
    error = token_error({**result, "error_description": "AADSTS: user jane@clinic.example"})
    assert isinstance(error, kind)
    assert "jane" not in str(error)  # descriptions can name the account: never repeated
    if "error_codes" in result:
        assert error.code == f"AADSTS{result['error_codes'][0]}"  # type: ignore[index]


def test_graph_errors() -> None:
    gone = api_error(410, b'{"error": {"code": "SyncStateNotFound"}}')
    assert isinstance(gone, SyncTokenExpired)
    throttled = api_error(429, b'{"error": {"code": "ApplicationThrottled"}}', 30.0)
    assert isinstance(throttled, ProviderTemporaryError) and throttled.retry_after == 30.0
    refused = api_error(403, b'{"error": {"code": "ErrorAccessDenied", "message": "x@y"}}')
    assert isinstance(refused, ProviderPermanentError) and refused.code == "ErrorAccessDenied"
    assert "x@y" not in str(refused)


class _Throttling(BaseHTTPRequestHandler):
    """Answers each path's queued statuses in turn (429/503 with Retry-After), then 200."""

    plan: dict[str, list[tuple[int, str]]] = {}
    seen: list[tuple[str, str, float]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, time.monotonic()))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        queued = self.plan.get(self.path) or []
        status, retry_after = queued.pop(0) if queued else (200, "")
        body = json.dumps({"error": {"code": "x"}} if status >= 400 else {"ok": True}).encode()
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def throttling() -> Iterator[str]:
    _Throttling.plan, _Throttling.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_throttled_read_waits_for_retry_after_then_succeeds(throttling: str) -> None:
    _Throttling.plan["/read"] = [(429, "1"), (503, "0")]
    with http_session(None, retries=True) as session:
        answer = session.get(f"{throttling}/read", timeout=10)
    assert answer.status_code == 200
    times = [t for _, path, t in _Throttling.seen if path == "/read"]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95  # Retry-After: 1 was honoured


def test_a_write_is_resent_after_429_but_not_after_503(throttling: str) -> None:
    _Throttling.plan["/write"] = [(429, "0")]
    _Throttling.plan["/broken"] = [(503, "0")]
    with http_session(None, retries=True) as session:
        assert session.post(f"{throttling}/write", json={}, timeout=10).status_code == 200
        assert session.post(f"{throttling}/broken", json={}, timeout=10).status_code == 503
    assert [p for _, p, _ in _Throttling.seen].count("/broken") == 1


def test_a_long_retry_after_comes_back_to_the_caller_at_once(throttling: str) -> None:
    _Throttling.plan["/slow"] = [(429, "120")]
    started = time.monotonic()
    with http_session(None, retries=True) as session:
        answer = session.get(f"{throttling}/slow", timeout=10)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "120"
    assert time.monotonic() - started < 5
