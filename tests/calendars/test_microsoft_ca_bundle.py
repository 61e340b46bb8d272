"""A MICROSOFT_CA_BUNDLE that names no file is the server's fault, said plainly: connecting
answers 503 naming the setting, and a sync records the reason and fails without a traceback.
Real processes (`proirp serve`, its worker, the sandbox), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus
from proirp.kit.time import utcnow
from tests.live import LiveStack, create_user_with_token, live_stack, wait_until


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    tmp = tmp_path_factory.mktemp("ca-bundle")
    missing = tmp / "nowhere" / "ca.pem"
    with live_stack(tmp, settings={"MICROSOFT_CA_BUNDLE": str(missing)}) as stack:
        yield stack


def _logs(live: LiveStack) -> str:
    return "\n".join(p.log_path.read_text() for p in live.processes.values())


def test_connecting_outlook_answers_503_naming_the_setting(live: LiveStack) -> None:
    _user_id, token = create_user_with_token(live.engine, email="connect@clinic.example.com")
    with live.api(token) as api:
        answer = api.get("/calendar/microsoft/connect")
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "calendar_unavailable"
    assert "MICROSOFT_CA_BUNDLE" in error["message"]
    assert "Traceback" not in _logs(live)


def _connected_integration(live: LiveStack, user_id: str) -> str:
    with live.session() as session:
        integration = CalendarIntegration(
            user_id=user_id,
            provider="microsoft",
            access_token="a-token-not-yet-expired",
            refresh_token="a-refresh-token",
            token_expires_at=utcnow() + timedelta(hours=1),
            status="active",
        )
        session.add(integration)
        session.flush()
        session.add(CalendarSyncStatus(integration_id=integration.id))
        session.commit()
        return integration.id


def test_a_sync_fails_cleanly_with_the_reason(live: LiveStack) -> None:
    user_id, token = create_user_with_token(live.engine, email="sync@clinic.example.com")
    integration_id = _connected_integration(live, user_id)
    with live.api(token) as api:
        assert api.post("/calendar/integrations/microsoft/sync").status_code == 202

    def recorded() -> bool:
        with live.session() as session:
            status = session.scalar(
                select(CalendarSyncStatus).where(
                    CalendarSyncStatus.integration_id == integration_id
                )
            )
            return status is not None and status.last_error is not None

    assert wait_until(recorded, timeout=30, interval=0.2), _logs(live)[-3000:]
    with live.api(token) as api:
        listed = api.get("/calendar/integrations").json()["integrations"]
    assert "MICROSOFT_CA_BUNDLE" in str(listed[0]["last_error"])
    logs = _logs(live)
    assert "calendar.sync_failed" in logs
    assert "Traceback" not in logs


def test_creating_an_event_answers_503_naming_the_setting(live: LiveStack) -> None:
    user_id, token = create_user_with_token(live.engine, email="create@clinic.example.com")
    _connected_integration(live, user_id)
    event = {
        "provider": "microsoft",
        "title": "Session",
        "start": "2030-01-15T09:00:00-06:00",
        "end": "2030-01-15T09:50:00-06:00",
    }
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=event)
    assert answer.status_code == 503, answer.text
    assert "MICROSOFT_CA_BUNDLE" in answer.json()["error"]["message"]
