"""A practice's own front end on another origin: CORS for exact origins with credentials, and the
calendar connection ending on that front end's settings page."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from proirp.app import _add_middleware
from proirp.calendars.endpoints import _outcome
from tests.conftest import make_settings

PORTAL = "https://portal.lakeside.example.com"


def _app(tmp_path: Path, **overrides: object) -> TestClient:
    app = FastAPI()

    @app.get("/auth/me")
    def me() -> dict[str, bool]:
        return {"ok": True}

    _add_middleware(app, make_settings(tmp_path, **overrides))
    return TestClient(app)


def test_a_listed_origin_may_call_with_the_session_cookie(tmp_path: Path) -> None:
    client = _app(tmp_path, cors_origins=f"{PORTAL}, http://localhost:3000")
    preflight = client.options(
        "/auth/me",
        headers={
            "Origin": PORTAL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in preflight.headers["access-control-allow-headers"].lower()
    answer = client.get("/auth/me", headers={"Origin": "http://localhost:3000"})
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_any_other_origin_gets_no_cors_answer(tmp_path: Path) -> None:
    client = _app(tmp_path, cors_origins=PORTAL)
    answer = client.get("/auth/me", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/auth/me",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_no_origin_is_allowed_by_default(tmp_path: Path) -> None:
    answer = _app(tmp_path).get("/auth/me", headers={"Origin": PORTAL})
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("value", ["*", "https://*.example.com", f"{PORTAL}/app", "portal.example"])
def test_cors_origins_must_be_exact_origins(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(tmp_path, cors_origins=value)
    assert "cors_origins" in str(refused.value)


def test_connecting_a_calendar_ends_on_the_front_ends_settings_page(tmp_path: Path) -> None:
    own = _outcome(make_settings(tmp_path), "google", "connected")
    assert own.headers["location"] == "/app/settings?provider=google&outcome=connected"
    elsewhere = _outcome(make_settings(tmp_path, frontend_url=PORTAL), "microsoft", "denied")
    assert elsewhere.headers["location"] == f"{PORTAL}/settings?provider=microsoft&outcome=denied"
