"""GET /clients and GET /clients/{id}: every read audited, search, cursor pagination."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.clients.models import Client
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client


def audits(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_get_returns_the_client_and_audits_the_view(
    api: TestClient, db: Session, staff: Staff
) -> None:
    client = create_client(db)
    response = api.get(f"/clients/{client.id}", headers=staff.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["client"]["id"] == client.id
    assert body["client"]["phone"] == "+12025550143"
    [audit] = audits(db, "CLIENT_VIEWED")
    assert (audit.client_id, audit.actor_user_id) == (client.id, staff.user.id)
    assert "Avery" not in json.dumps(audit.details)


def test_get_an_unknown_id_is_404(api: TestClient, db: Session, staff: Staff) -> None:
    response = api.get("/clients/0123456789abcdef0123456789abcdef", headers=staff.headers)
    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "client_not_found"
    assert audits(db, "CLIENT_VIEWED") == []


def test_list_audits_which_clients_were_shown_but_not_the_search(
    api: TestClient, db: Session, staff: Staff
) -> None:
    shown = create_client(
        db, first_name="Marisol", last_name="Okafor", email="m.okafor@example.com"
    )
    create_client(db, first_name="Dev", last_name="Patel", phone=None, email=None)

    response = api.get("/clients", params={"q": "okafor"}, headers=staff.headers)

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["clients"]] == [shown.id]
    [audit] = audits(db, "CLIENTS_LISTED")
    assert audit.actor_user_id == staff.user.id
    assert audit.details == {"client_ids": [shown.id], "searched": True}
    assert "okafor" not in json.dumps(audit.details).lower()


@pytest.fixture
def roster(db: Session) -> dict[str, Client]:
    return {
        "quinn": create_client(db),  # Avery Quinn, +12025550143, avery.quinn@example.com
        "okafor": create_client(
            db,
            first_name="Marisol",
            last_name="Okafor",
            phone="+13125550188",
            email="marisol@northside.example.org",
        ),
        "patel": create_client(db, first_name="Dev", last_name="Patel", phone=None, email=None),
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("avery", ["quinn"]),
        ("OKAFOR", ["okafor"]),
        ("northside.example", ["okafor"]),
        ("555-0143", ["quinn"]),
        ("(312) 555-0188", ["okafor"]),
        ("5550", ["okafor", "quinn"]),
        ("nobody", []),
        ("%", []),  # LIKE wildcards in the search are plain characters
        ("a_e", []),
    ],
)
def test_search_matches_names_email_and_phone_digits(
    api: TestClient, staff: Staff, roster: dict[str, Client], q: str, expected: list[str]
) -> None:
    response = api.get("/clients", params={"q": q}, headers=staff.headers)
    assert response.status_code == 200
    found = {c["id"] for c in response.json()["clients"]}
    assert found == {roster[name].id for name in expected}


def test_pages_cover_every_client_once_newest_first(
    api: TestClient, db: Session, staff: Staff
) -> None:
    clients = [create_client(db, last_name=f"Client{n}") for n in range(7)]
    same_instant = utcnow() - timedelta(minutes=5)
    for client in clients[2:6]:  # ties on created_at are broken by id
        client.created_at = same_instant
    db.commit()

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = api.get("/clients", params=params, headers=staff.headers)
        assert response.status_code == 200
        pages.append([c["id"] for c in response.json()["clients"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "pagination does not end"

    ids = [client_id for page in pages for client_id in page]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(ids) == sorted(c.id for c in clients)
    order = sorted(clients, key=lambda c: (c.created_at, c.id), reverse=True)
    assert ids == [c.id for c in order]
    assert len(audits(db, "CLIENTS_LISTED")) == 3


def test_a_full_last_page_says_there_is_no_next(api: TestClient, db: Session, staff: Staff) -> None:
    for _ in range(2):
        create_client(db)
    response = api.get("/clients", params={"limit": 2}, headers=staff.headers)
    assert len(response.json()["clients"]) == 2
    assert response.json()["next_cursor"] is None


def _encode(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _encode({"created_at": "2030-01-01"}),
        _encode(["yesterday", "abc"]),
        pytest.param(_encode(["2030-01-01T00:00:00", "abc"]), id="naive-time"),
        # A `next_cursor` of null sent back as an empty value: taken for the first page, a
        # client that pages until the cursor is empty would start again for ever.
        pytest.param("", id="empty"),
    ],
)
def test_a_cursor_the_api_never_issued_is_a_422(api: TestClient, staff: Staff, cursor: str) -> None:
    response = api.get("/clients", params={"cursor": cursor}, headers=staff.headers)
    assert response.status_code == 422
    assert "cursor" in response.json()["error"]["fields"]


@pytest.mark.parametrize(("limit"), [0, 201, "many"])
def test_limit_out_of_range_is_a_422(api: TestClient, staff: Staff, limit: object) -> None:
    response = api.get("/clients", params={"limit": limit}, headers=staff.headers)
    assert response.status_code == 422
    assert "limit" in response.json()["error"]["fields"]
