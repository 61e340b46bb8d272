"""A query parameter that takes one value, given more than once, is a 422 naming it (not an
answer for whichever value the framework kept)."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.kit.query import GIVEN_TWICE, single_valued_query, takes_many
from tests.factories import create_staff


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/audit-logs", [("action", "LOGIN"), ("action", "LOGOUT")], "action"),
        ("/clients", [("limit", "5"), ("limit", "500")], "limit"),
        ("/clients", [("q", "a"), ("limit", "5"), ("q", "b")], "q"),
    ],
)
def test_a_single_valued_parameter_given_twice_is_a_422_naming_it(
    api: TestClient, db: Session, path: str, params: list[tuple[str, str]], field: str
) -> None:
    admin = create_staff(db, role="admin")
    db.commit()
    response = api.get(path, params=params, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == {field: GIVEN_TWICE}


def test_each_parameter_given_once_is_answered(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    db.commit()
    params = [("action", "LOGIN"), ("limit", "5")]
    assert api.get("/audit-logs", params=params, headers=admin.headers).status_code == 200


def test_a_parameter_the_route_does_not_read_is_left_alone(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    db.commit()
    params = [("unread", "1"), ("unread", "2")]
    assert api.get("/audit-logs", params=params, headers=admin.headers).status_code == 200


def test_a_list_parameter_takes_many_values() -> None:
    app = FastAPI()

    @app.get("/things")
    def things(
        tag: Annotated[list[str] | None, Query()] = None, sort: str = "name"
    ) -> dict[str, object]:
        return {"tag": tag, "sort": sort}

    route = next(r for r in app.routes if isinstance(r, APIRoute))
    assert single_valued_query(route) == {"sort"}
    assert takes_many(list[str] | None) and takes_many(Annotated[set[int], "x"])
    assert not takes_many(str | None) and not takes_many(int)
