"""Schemathesis walks every operation in /openapi.json, signed in as an admin, and checks each
answer against what the document promises: status, headers, body, Allow on a 405, no 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.orm import Session

from proirp.app import openapi_document
from proirp.calendars import oauth
from proirp.integrations.calendar import Authorization
from proirp.kit.deps import get_session
from proirp.worker.queue import huey
from tests.factories import Staff, create_staff
from tests.schema_fuzz import configure, excluded_checks

# The same document the app serves (tests/api/test_openapi.py holds them equal), made at import so
# that each operation is a test of its own; the app is attached when the test runs.
schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.base_url = "http://testserver"
configure(schema)


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
    case.call_and_validate(
        headers=admin_fuzz.headers, excluded_checks=excluded_checks(case.operation.label)
    )
