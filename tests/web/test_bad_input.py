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


def _signed_in(api: TestClient, db: Session) -> str:
    staff = create_staff(db, role="admin")
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
        "/app/clients?q=a%00",
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
    token = _signed_in(api, db)
    form = {"csrf_token": csrf_for(token), "find": "a\x00", "email": "a\x00@example.com"}
    answer = api.post(_filled(path, "0" * 32), data=form, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert "find" in answer.text and "NUL" in answer.text
    api.cookies.clear()
