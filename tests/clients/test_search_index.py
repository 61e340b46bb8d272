"""Client search answered from keyed hashes of pieces of the encrypted names (decision 0033): the
same clients as a plain test of what the search promises, kept in step as clients change, and
the plan reads the pieces' index."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.clients import repository, search
from proirp.clients.identity import client_pieces, search_key, wanted_pieces
from proirp.clients.models import Client
from proirp.clients.repository import list_clients
from tests.factories import create_client
from tests.plans import plan_of

NAMES = [
    ("Avery", "Quinn", "avery.quinn@example.com", "+12025550143"),
    ("Marisol", "Okafor", "marisol@northside.example.org", "+13125550188"),
    ("Zoë", "Brontë", "zoe@example.com", "+13125550199"),
    ("Dev", "Patel", None, None),
    ("AVERY", "O'Neil", "AONEIL@EXAMPLE.COM", "+14155550100"),
    ("Li", "100% Real_Name", "li@example.com", "+14155550111"),
]
SEARCHES = [
    "avery",
    "AVERY",
    "ver",
    "quinn",
    "northside.exa",
    "example.com",
    "zoë",
    "brontë",
    "o'neil",
    "% real_",
    "100%",
    "555-0188",
    "(312) 555",
    "0100",
    "av",
    "ve",
    "q",
    "o",
    "nobody",
    'a"b',
    "avery quinn",
    "Quinn Avery",
    "marisol  okafor",
    "avery okafor",
    "zoë brontë",
    "li real",
]


def _found(db: Session, q: str) -> set[str]:
    return {c.id for c in list_clients(db, q=q, limit=200, cursor=None)}


def _in(word: str, fields: list[str]) -> bool:
    """Three characters or more: anywhere in a field; fewer: the start of one of its words."""
    if len(word) >= 3:
        return any(word in field for field in fields)
    return any(w.startswith(word) for field in fields for w in re.findall(r"\w+", field))


def _substring(db: Session, q: str) -> set[str]:
    """What the search promises, tested in Python: `q` (three characters or more) in a name or
    the email (case aside), or its digits (three or more) in the phone, or each of its words in
    a name or the email (a full name: "Avery Quinn"; a word of one or two characters starts a
    word there)."""
    digits = "".join(ch for ch in q if ch.isdigit())
    words = q.lower().split()
    found = set()
    for client in db.scalars(select(Client).where(Client.deleted_at.is_(None))):
        fields = [client.first_name.lower(), client.last_name.lower(), (client.email or "").lower()]
        if (
            (len(q) >= 3 and any(q.lower() in field for field in fields))
            or (len(digits) >= 3 and digits in (client.phone or ""))
            or (words and all(_in(w, fields) for w in words))
        ):
            found.add(client.id)
    return found


@pytest.fixture
def roster(db: Session) -> list[Client]:
    return [
        create_client(db, first_name=first, last_name=last, email=email, phone=phone)
        for first, last, email, phone in NAMES
    ]


@pytest.mark.parametrize("q", SEARCHES)
def test_search_finds_what_a_substring_test_finds(
    db: Session, roster: list[Client], q: str
) -> None:
    assert _found(db, q) == _substring(db, q) & {c.id for c in roster}


@pytest.mark.parametrize("q", SEARCHES)
def test_pieces_common_to_many_clients_find_the_same_clients(
    db: Session, roster: list[Client], q: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every piece counted as common: each client is tested for the pieces, newest first, where
    # a rare piece's clients are otherwise read first. Both must find the same clients.
    monkeypatch.setattr(search, "COMMON", 0)
    monkeypatch.setattr(repository, "PLENTY", 0)
    assert _found(db, q) == _substring(db, q) & {c.id for c in roster}


def test_a_long_search_asks_for_six_characters_in_a_row(db: Session) -> None:
    # "client3@" in three-character pieces is held, apart, by client31003@ and its like; in
    # six-character pieces only by the address that holds it.
    wanted = create_client(db, email="client3@example.com")
    alike = [create_client(db, email=f"client3{i}003@example.com") for i in range(3)]
    key = search_key(db)
    (pieces,) = wanted_pieces(key, "client3@")
    for client in alike:
        assert not pieces <= client_pieces(key, client)
    assert pieces <= client_pieces(key, wanted)
    assert _found(db, "client3@") == {wanted.id}


def test_the_index_follows_changes_and_deletions(db: Session, roster: list[Client]) -> None:
    okafor = roster[1]
    okafor.last_name, okafor.email = "Adeyemi", "m.adeyemi@example.org"
    db.flush()
    assert _found(db, "okafor") == set()
    assert _found(db, "adeyemi") == {okafor.id}

    db.delete(roster[3])
    db.flush()
    assert _found(db, "patel") == set()

    added = create_client(db, first_name="Ngozi", last_name="Eze", phone="+16175550177")
    assert _found(db, "ngozi") == {added.id}
    assert _found(db, "617-555") == {added.id}


def test_short_words_start_a_word(db: Session, roster: list[Client]) -> None:
    avery, _okafor, _zoe, dev, oneil, _li = roster
    assert _found(db, "av") == {avery.id, oneil.id}
    assert _found(db, "ve") == set()  # inside "Avery", not at the start of a word
    assert _found(db, "de pa") == {dev.id}
    assert _found(db, "a quinn") == {avery.id}


@pytest.mark.parametrize("q", ["okafor", "marisol okafor"])
def test_a_search_reads_the_pieces_by_their_key(db: Session, roster: list[Client], q: str) -> None:
    plan = plan_of(
        db,
        lambda: search.candidates(db, search.ways_of(db, q), common=False),
        avoid=("seqscan",),
    )
    assert "pk_client_search_grams" in plan or "client_search_grams USING" in plan, plan
