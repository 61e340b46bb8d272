"""Schemathesis walks every operation in /openapi.json, signed in as an admin, and checks each
answer against what the document promises: status, headers, body, Allow on a 405, no 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any
from zoneinfo import available_timezones

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from proirp.app import openapi_document
from proirp.calendars import oauth
from proirp.integrations.calendar import Authorization
from proirp.kit.deps import get_session
from proirp.kit.pagination import Cursor
from proirp.worker.queue import huey
from tests.factories import Staff, create_staff

# Operations whose schema-valid requests can still be refused with a 422, by a rule about other
# records or about several fields together that a JSON schema cannot state. Each 422 they give
# is still checked against the documented error shape.
RULES_BEYOND_THE_SCHEMA: dict[str, str] = {
    "POST /clients": "the phone must be a real number; consent needs its source",
    "PATCH /clients/{client_id}": "the phone must be a real number; consent needs its source",
    "GET /audit-logs": "the cursor must be one this API issued",
    "POST /comms": "the client must exist and consent; a body or a template, not both",
    "POST /comms/bulk": "recipients or a filter; a body or a template, not both",
    "POST /templates": "the text must parse and declare each variable it uses",
    "PATCH /templates/{template_id}": "the text must parse and declare each variable it uses",
    "GET /calendar/events": "end must be after start",
    "POST /calendar/events": "end after start; the calendar must be connected",
    "PATCH /calendar/events/{event_id}": "end after start, also against the event's own times",
    "PUT /reminders/rules": "wordings hold no PHI and no placeholder but {when}; one rule per "
    "channel and offset; a template of the rule's channel",
    "PUT /inbox/settings": "the on-call address must be a deliverable email address",
    "GET /inbox": "the cursor must be one this API issued",
    "POST /inbox/{message_id}/attach": "the client must exist",
    "POST /auth/mfa/enrolment/confirm": "the code must be the one the new key gives now",
    "POST /auth/mfa/recovery-codes": "the code must be the one the user's app shows now",
}

# The same document the app serves (tests/api/test_openapi.py holds them equal), made at import so
# that each operation is a test of its own; the app is attached when the test runs.
schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.base_url = "http://testserver"
# No text may hold a NUL character (tests/api/test_edge_input.py holds every operation to it).
schema.config.generation.update(allow_x00=False)
# A body over its address's size limit is refused with 413 before it is parsed, valid or not
# (JSON can spell a character of a string at its longest in 12 bytes).
for check in (
    schema.config.checks.negative_data_rejection,
    schema.config.checks.positive_data_acceptance,
):
    check.expected_statuses = [*check.expected_statuses, "413"]
# Cursors are opaque: only one this API returned is valid, so generate those.
schemathesis.openapi.format(
    "cursor",
    st.builds(
        lambda when, id_: Cursor(when, id_).encode(),
        st.datetimes(timezones=st.just(UTC)),
        st.text("0123456789abcdef", min_size=32, max_size=32),
    ),
)
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(available_timezones())))


class _SignInPage:
    """Stands in for a calendar provider's sign-in configuration, which is read over the network
    (tests/calendars connect against the live sandbox)."""

    def start_authorization(self, *, state: str, redirect_uri: str) -> Authorization:
        return Authorization(url=f"https://calendar.example.com/authorize?state={state}", flow="")


@pytest.fixture
def admin_fuzz(app: FastAPI, db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Staff]:
    """Every request shares the test's rolled-back session; queued jobs are dropped afterwards."""

    def test_session() -> Iterator[Session]:
        db.commit()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    monkeypatch.setattr(oauth, "calendar_provider", lambda *_args: _SignInPage())
    admin = create_staff(db, role="admin")
    db.commit()
    app.dependency_overrides[get_session] = test_session
    try:
        yield admin
    finally:
        shutdown_lifespans()
        app.dependency_overrides.clear()
        huey.storage.flush_queue()
        huey.storage.flush_schedule()


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, app: FastAPI, admin_fuzz: Staff
) -> None:
    # The schema was made at import, before the app existed.
    case.operation.app = case.operation.schema.app = app
    options: dict[str, Any] = {}
    if case.operation.label in RULES_BEYOND_THE_SCHEMA:
        options["excluded_checks"] = [positive_data_acceptance]
    case.call_and_validate(headers=admin_fuzz.headers, **options)
