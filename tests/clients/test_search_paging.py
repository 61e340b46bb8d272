"""Search pages against a plain test of every client: whichever way a search reads its
candidates (a piece's holders, the newest clients first, a turn from one to the other after a
trial batch that matched some, candidates named in the statement or kept to by a subquery),
paging through it gives exactly the matching clients, newest first, once each, ties on the
time of creation included."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from proirp.clients import identity, repository, search
from proirp.clients.repository import list_clients
from proirp.kit.pagination import Cursor

FIRST = ["Okafor", "Blake", "Avery", "Anna", "Nnan", "Quinn", "Okafo", "Ann"]
LAST = ["Okafor", "Quinlan", "Rivera", "Nnanna", "Bla", "Kafor"]
SEARCHES = [
    "okafor",
    "okaf",
    "ann",
    "nnan",
    "bla",
    "an",
    "Ann Okafor",
    "quin",
    "a",
    "kafor",
    "rivera okafor",
    "zz",
    "ok",
]


def _roster(db: Session, rnd: random.Random, n: int) -> list[dict[str, Any]]:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        at = base + timedelta(seconds=rnd.randrange(n // 3 + 1))  # ties on created_at
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "first_name": rnd.choice(FIRST),
                "last_name": rnd.choice(LAST) + (str(i) if rnd.random() < 0.3 else ""),
                "email": None,
                "phone": None,
                "timezone": "America/Chicago",
                "sms_consent": False,
                "email_consent": False,
                "reminders_opt_out": False,
                "created_at": at,
                "updated_at": at,
            }
        )
    identity.add_clients(db, rows)
    db.flush()
    return rows


def _expected(rows: list[dict[str, Any]], q: str) -> list[str]:
    hits = [row for row in rows if identity.matches(row, q)]
    hits.sort(key=lambda row: (row["created_at"], row["id"]), reverse=True)
    return [row["id"] for row in hits]


@pytest.mark.parametrize("seed", range(2))
def test_every_way_of_reading_pages_to_the_same_clients(
    db: Session, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rnd = random.Random(seed)
    rows = _roster(db, rnd, 400)
    for attempt in range(25):
        monkeypatch.setattr(repository, "PLENTY", rnd.choice([0, 1, 3, 10, 50, 250]))
        monkeypatch.setattr(repository, "TRIAL", rnd.choice([1, 2, 4]))
        monkeypatch.setattr(repository, "SPARSE", rnd.choice([1, 2, 16, 100]))
        monkeypatch.setattr(repository, "FEW", rnd.choice([0, 1, 5, 200]))
        monkeypatch.setattr(repository, "SCAN", rnd.choice([1, 2, 7, 2000]))
        monkeypatch.setattr(search, "COMMON", rnd.choice([0, 3, 20, 2000]))
        q, limit = rnd.choice(SEARCHES), rnd.choice([1, 2, 3, 7, 25])
        got: list[str] = []
        cursor = None
        for _ in range(1000):
            page = list_clients(db, q=q, limit=limit, cursor=cursor)
            got += [c.id for c in page[:limit]]
            if len(page) <= limit:
                break
            cursor = Cursor(page[limit - 1].created_at, page[limit - 1].id)
        assert got == _expected(rows, q), (attempt, q, limit)
