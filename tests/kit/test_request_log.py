"""The access log names each request by its route, never the values in its path or query; every
answer carries its request id. (`proirp serve`'s own log: tests/test_serve_logs.py.)"""

from __future__ import annotations

from fastapi.testclient import TestClient
from structlog.testing import capture_logs


def test_each_request_is_logged_by_its_route(api: TestClient) -> None:
    with capture_logs() as logs:
        answers = [
            api.get(
                "/sandbox/twilio/2010-04-01/Accounts/AC0123/Messages.json",
                params={"To": "+12025550143"},
            ),
            api.get("/clients/c0ffee", params={"q": "Zebediah"}),
            api.get("/typed/by/anyone/Zebediah"),
        ]
    lines = [entry for entry in logs if entry["event"] == "http.request"]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/sandbox/twilio/2010-04-01/Accounts/{AccountSid}/Messages.json", 401),
        ("GET", "/clients/{client_id}", 401),
        ("GET", None, 404),
    ]
    assert all(line["duration_ms"] >= 0 for line in lines)
    assert "Zebediah" not in str(logs) and "2025550143" not in str(logs)
    ids = {answer.headers["x-request-id"] for answer in answers}
    assert len(ids) == 3 and all(len(request_id) == 32 for request_id in ids)
