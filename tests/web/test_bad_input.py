"""Bad input to the UI's pages: a clear 4xx page naming the field, never a 500. (A NUL reaches
PostgreSQL as an error; on SQLite it would pass unnoticed, so it is refused everywhere.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.auth.secrets import csrf_for
from tests.factories import create_staff
from tests.test_route_roles import PAGES, PUBLIC

NUL = "%00"
WITH_PARAMETERS = sorted(p for m, p in PAGES if m == "GET" and "{" in p)
POSTS = sorted(p for m, p in [*PAGES, *PUBLIC] if m == "POST" and p.startswith("/app/"))


def _signed_in(api: TestClient, db: Session, *, role: str = "admin") -> str:
    staff = create_staff(db, role=role)
    api.cookies.clear()
    api.cookies.set("proirp_session", staff.token)
    return staff.token


def _filled(path: str, value: str) -> str:
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + value + path[end + 1 :]
    return path


@pytest.mark.parametrize("path", WITH_PARAMETERS)
def test_a_nul_in_a_page_s_path_is_refused(api: TestClient, db: Session, path: str) -> None:
    _signed_in(api, db)
    answer = api.get(_filled(path, NUL), follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert "NUL" in answer.text
    api.cookies.clear()


@pytest.mark.parametrize(
    "address",
    [
        "/app/clients?cursor=a%00",
        "/app/audit?action=%00",
        "/app/audit?client_id=%00",
        "/app/calendar?week=%00",
        "/app/signin?next=/app/%00",
    ],
)
def test_a_nul_in_a_page_s_query_is_refused(api: TestClient, db: Session, address: str) -> None:
    _signed_in(api, db)
    answer = api.get(address, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    api.cookies.clear()


@pytest.mark.parametrize("path", POSTS)
def test_a_nul_in_a_form_field_is_refused_naming_it(
    api: TestClient, db: Session, path: str
) -> None:
    allowed = PAGES.get(("POST", path), frozenset({"admin"}))  # a role that may post it
    token = _signed_in(api, db, role="admin" if "admin" in allowed else min(allowed))
    form = {"csrf_token": csrf_for(token), "find": "a\x00", "email": "a\x00@example.com"}
    answer = api.post(_filled(path, "0" * 32), data=form, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert "find" in answer.text and "NUL" in answer.text
    api.cookies.clear()


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("/app/calendar?week=9999-12-31", "week"),
        ("/app/calendar?week=0001-01-01", "week"),
        ("/app/audit?until=9999-12-31", "until"),
        ("/app/audit?since=0001-01-01", "since"),
    ],
)
def test_a_date_out_of_range_is_refused_naming_it(
    api: TestClient, db: Session, address: str, name: str
) -> None:
    _signed_in(api, db)
    answer = api.get(address, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert name in answer.text and "between 1970 and 2199" in answer.text
    api.cookies.clear()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_appointment_out_of_range_is_refused_before_anything_is_made(
    api: TestClient, db: Session, day: str
) -> None:
    token = _signed_in(api, db)
    form = {
        "csrf_token": csrf_for(token),
        "client_id": "0" * 32,
        "provider": "google",
        "date": day,
        "start": "10:00",
        "end": "10:50",
    }
    answer = api.post("/app/calendar/new", data=form, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert "date" in answer.text and "between 1970 and 2199" in answer.text
    api.cookies.clear()
    # The API refuses the same: a time far outside the years an appointment may have.
    staff = create_staff(db, role="admin")
    event = {"provider": "google", "title": "x", "start": f"{day}T10:00:00+00:00"}
    event["end"] = f"{day}T10:50:00+00:00"
    refused = api.post("/calendar/events", json=event, headers=staff.headers)
    assert refused.status_code == 422, refused.text
    assert "between 1970 and 2199" in refused.text


def test_no_such_page_is_a_page_and_the_api_keeps_its_json(api: TestClient, db: Session) -> None:
    _signed_in(api, db)
    missing = api.get("/app/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no such page" in missing.text
    wrong_way = api.get("/app/signout")
    assert wrong_way.status_code == 405
    assert "cannot be opened this way" in wrong_way.text
    assert "allow" in wrong_way.headers
    api.cookies.clear()
    assert api.get("/no-such-route").json()["error"]["code"] == "not_found"
    assert api.get("/app/static/no-such-file.css").status_code == 404
