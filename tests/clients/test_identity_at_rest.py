"""A client's names, phone and email are stored encrypted (decision 0033): what the database holds
is a vault token and keyed hashes, never the text; the product still finds the client by a
reply's number and by search, after a change of details and after the vault's keys rotate."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from proirp.clients import repository, search
from proirp.clients.identity import KEY_NAME, exact_hash, search_key
from proirp.clients.models import Channel, Client, ClientSearchGram, OptOut, SearchKey
from proirp.clients.repository import active_opt_outs, list_clients
from proirp.comms.inbox.conversations import candidates
from proirp.comms.sms.inbound import clients_with_phone
from proirp.key_rotation import rotate_encrypted_columns
from proirp.kit.crypto import current_vault
from proirp.kit.pagination import Cursor
from tests.factories import create_client
from tests.plans import statements_sent

FIELDS = ("first_name", "last_name", "phone", "email")
NAME, LAST, PHONE, EMAIL = "Marisol", "Quenneville", "+13125550188", "Marisol.Q@Example.org"


def _stored(db: Session, client_id: str) -> dict[str, str | None]:
    """The row as the database holds it, not as the model decrypts it."""
    row = db.execute(
        text("SELECT first_name, last_name, phone, email FROM clients WHERE id = :id"),
        {"id": client_id},
    ).one()
    return dict(zip(FIELDS, row, strict=True))


def _everything_stored(db: Session) -> str:
    """Every text of the client tables and the search key, as the database holds it."""
    rows = [
        *db.execute(text("SELECT * FROM clients")).all(),
        *db.execute(text("SELECT * FROM search_keys")).all(),
        *db.execute(text("SELECT * FROM client_search_grams")).all(),
    ]
    return "\n".join(str(value) for row in rows for value in row)


def _client(db: Session) -> Client:
    return create_client(db, first_name=NAME, last_name=LAST, phone=PHONE, email=EMAIL)


def test_names_phone_and_email_are_stored_as_vault_tokens(db: Session) -> None:
    client = _client(db)
    stored = _stored(db, client.id)
    assert {f: current_vault().decrypt(v or "") for f, v in stored.items()} == {
        "first_name": NAME,
        "last_name": LAST,
        "phone": PHONE,
        "email": EMAIL,
    }
    everything = _everything_stored(db).lower()
    for value in (NAME, LAST, PHONE, PHONE[2:], EMAIL, "quennev", "5550188"):
        assert value.lower() not in everything


def test_the_search_key_is_stored_encrypted(db: Session) -> None:
    _client(db)
    key = search_key(db)
    sealed = db.execute(text("SELECT sealed FROM search_keys WHERE name = :n"), {"n": KEY_NAME})
    token = sealed.scalar_one()
    assert len(key) == 32
    assert key.hex() not in token and current_vault().decrypt(token) != token
    assert db.scalars(select(SearchKey.name)).all() == [KEY_NAME]


def test_a_reply_s_number_finds_its_client_by_hash(db: Session) -> None:
    client = _client(db)
    assert client.phone_hash == exact_hash(search_key(db), "phone", PHONE)
    assert [c.id for c in clients_with_phone(db, PHONE)] == [client.id]
    assert candidates(db, [PHONE, "+13125550199"]) == {PHONE: [client.id]}


def test_a_change_of_details_is_found_and_the_old_ones_are_not(db: Session) -> None:
    client = _client(db)
    client.last_name, client.phone = "Adeyemi", "+16175550177"
    db.flush()
    assert clients_with_phone(db, PHONE) == []
    assert [c.id for c in clients_with_phone(db, "+16175550177")] == [client.id]
    assert [c.id for c in list_clients(db, q="adeyemi", limit=10, cursor=None)] == [client.id]
    assert list_clients(db, q="quenneville", limit=10, cursor=None) == []
    assert list_clients(db, q="5550188", limit=10, cursor=None) == []


def test_a_change_of_something_else_keeps_the_pieces(db: Session) -> None:
    client = _client(db)
    pieces = set(
        db.scalars(select(ClientSearchGram.gram).where(ClientSearchGram.client_id == client.id))
    )
    client.timezone = "America/New_York"
    db.flush()
    kept = set(
        db.scalars(select(ClientSearchGram.gram).where(ClientSearchGram.client_id == client.id))
    )
    assert kept == pieces and pieces


def test_rotating_the_vault_s_keys_keeps_every_client_found(db: Session) -> None:
    client = _client(db)
    before = _stored(db, client.id)
    key = search_key(db)
    counts = rotate_encrypted_columns(db)
    assert counts["search_keys.sealed"] >= 1 and counts["clients.first_name"] >= 1
    assert search_key(db) == key
    assert _stored(db, client.id) != before
    assert [c.id for c in list_clients(db, q="marisol q", limit=10, cursor=None)] == [client.id]
    assert [c.id for c in clients_with_phone(db, PHONE)] == [client.id]


@pytest.mark.parametrize("common", [False, True])
def test_a_page_of_search_results_fills_past_candidates_that_do_not_match(
    db: Session, common: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if common:  # every piece counted as common: clients read newest first, two at a time
        monkeypatch.setattr(search, "COMMON", 0)
        monkeypatch.setattr(repository, "PLENTY", 0)
        monkeypatch.setattr(repository, "TRIAL", 1)
        monkeypatch.setattr(repository, "SCAN", 2)
    # "Anna Nnan" holds every piece of "nnann" ("nna", "nan", "ann") but not the text itself:
    # a candidate the decrypted test drops; the page is filled from further down all the same.
    matching = [create_client(db, first_name="Hannah", last_name=f"Nnann{i}") for i in range(3)]
    decoy = create_client(db, first_name="Anna", last_name="Nnan")
    later = create_client(db, first_name="Johannah", last_name="Nnanny")
    found = list_clients(db, q="nnann", limit=2, cursor=None)
    assert decoy.id not in [c.id for c in found]
    assert [c.id for c in found] == [later.id, matching[2].id, matching[1].id]


@pytest.mark.parametrize("common", [False, True])
def test_a_search_many_match_decrypts_only_the_clients_of_its_page(
    db: Session, common: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many candidates (more than are named in a statement), or common pieces: the list is read
    # in batches, and of a batch only as many candidates are read and decrypted as the page
    # still needs.
    monkeypatch.setattr(repository, "FEW", 0)
    if common:
        monkeypatch.setattr(search, "COMMON", 0)
        monkeypatch.setattr(repository, "PLENTY", 0)
    for i in range(48):
        first = "Avery" if i % 4 == 0 else "Blake"
        create_client(db, first_name=first, last_name=f"Quinn{i}", email=None, phone=None)
    db.flush()
    db.expunge_all()
    loaded: list[str] = []

    def count(client: Client, _context: object) -> None:
        loaded.append(client.id)

    event.listen(Client, "load", count)
    try:
        found = list_clients(db, q="avery", limit=5, cursor=None)
    finally:
        event.remove(Client, "load", count)
    assert [c.first_name for c in found] == ["Avery"] * 6
    assert sorted(loaded) == sorted(c.id for c in found)


def test_candidates_that_do_not_match_are_not_read_one_at_a_time(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Anna Nnan" holds every piece of "nnann" without the text: a candidate the decrypted test
    # drops. A page that still wants one client reads twice as many after each read with misses.
    monkeypatch.setattr(repository, "FEW", 0)
    match = create_client(db, first_name="Hannah", last_name="Nnann", email=None, phone=None)
    for _ in range(40):
        create_client(db, first_name="Anna", last_name="Nnan", email=None, phone=None)
    db.flush()
    with statements_sent(db.get_bind()) as sent:
        found = list_clients(db, q="nnann", limit=0, cursor=None)
    assert [c.id for c in found] == [match.id]
    reads = [s for s, _ in sent if "clients.first_name" in s]
    # A few reads for each batch of the list (1, 4, 16, then 64 clients): not one a candidate (41).
    assert len(reads) <= 16, len(reads)


def test_a_batch_that_matched_no_one_makes_the_next_one_larger() -> None:
    # 25 of the first 26 matched, then a batch matched no one: the estimate alone would read
    # the same small batch again and again.
    assert repository._next_batch(26, 26, 25, 26, grew=False) == 52
    assert repository._next_batch(26, 26, 25, 26, grew=True) == 26
    assert repository._next_batch(51, 51, 0, 51, grew=False) == 204


def _reads_every_holder(statement: str) -> bool:
    """A statement that reads every client holding a piece (not counted up to a limit, not
    asked of a batch of clients)."""
    return (
        "FROM client_search_grams" in statement
        and "LIMIT" not in statement
        and " IN " not in statement
    )


@pytest.mark.parametrize(
    ("okafors", "read_from_holders"),
    [
        # Many share the name but none of the newest twelve (a trial of four pages of three):
        # the candidates are read from the holders of the name's piece after all.
        ({0, 5, 10, 15, 20}, True),
        # One of the newest twelve: one in sixteen or more match, the newest are read on.
        ({0, 5, 10, 15, 50}, False),
        # The newest: the first batch fills the page.
        ({55, 56, 57, 58, 59}, False),
    ],
)
def test_a_name_many_share_is_asked_of_the_newest_clients_first(
    db: Session,
    okafors: set[int],
    read_from_holders: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repository, "PLENTY", 3)  # five hold "okafor": more than plenty
    roster = [
        create_client(
            db, first_name="Okafor" if i in okafors else "Blake", last_name=f"Q{i}", phone=None
        )
        for i in range(60)
    ]
    db.flush()
    newest_first = sorted(roster, key=lambda c: (c.created_at, c.id), reverse=True)
    expected = [c.id for c in newest_first if c.first_name == "Okafor"]
    got: list[str] = []
    cursor = None
    with statements_sent(db.get_bind()) as sent:
        while True:  # pages of two, each asked again from where the last ended
            page = list_clients(db, q="okafor", limit=2, cursor=cursor)
            got += [c.id for c in page[:2]]
            if len(page) <= 2:
                break
            cursor = Cursor(page[1].created_at, page[1].id)
            sent.append(("-- next page", None))
    statements = [statement for statement, _ in sent]
    assert got == expected
    first_page = statements[: statements.index("-- next page")]
    assert any(_reads_every_holder(s) for s in first_page) is read_from_holders


def test_candidates_many_and_old_are_read_without_the_rest_of_the_list(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More candidates than a statement names (FEW), the oldest of 120 clients, and the list
    # read at most two at a time: kept to the holders of the name's piece in the statement,
    # the list's 117 others are never read, two by two.
    monkeypatch.setattr(repository, "FEW", 0)
    monkeypatch.setattr(repository, "SCAN", 2)
    okafors = [create_client(db, first_name="Okafor", last_name=f"Q{i}") for i in range(3)]
    for i in range(117):
        create_client(db, first_name="Blake", last_name=f"Q{i}", phone=None)
    db.flush()
    with statements_sent(db.get_bind()) as sent:
        found = list_clients(db, q="okafor", limit=5, cursor=None)
    assert sorted(c.id for c in found) == sorted(c.id for c in okafors)
    listed = [s for s, _ in sent if s.startswith("SELECT clients.id, clients.created_at")]
    assert len(listed) <= 2, len(listed)


def test_after_the_newest_clients_the_candidates_are_read_a_page_at_a_time(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five share the name, the oldest of 60, none among the newest twelve asked first: the
    # candidates read next match far more often, so they are read a page's worth at a time,
    # not in a batch sized by how rarely the newest clients matched.
    monkeypatch.setattr(repository, "PLENTY", 3)
    monkeypatch.setattr(repository, "FEW", 0)
    for i in range(60):
        create_client(db, first_name="Okafor" if i < 5 else "Blake", last_name=f"Q{i}", phone=None)
    db.flush()
    with statements_sent(db.get_bind()) as sent:
        found = list_clients(db, q="okafor", limit=2, cursor=None)
    sizes: list[object] = []
    for statement, parameters in sent:
        if statement.startswith("SELECT clients.id, clients.created_at"):
            # "LIMIT %(param_1)s" (psycopg) or "LIMIT ? OFFSET ?" (sqlite3)
            named = re.search(r"LIMIT (?:%\((\w+)\)s|\?)", statement)
            assert named is not None
            sizes.append(parameters[named.group(1)] if named.group(1) else parameters[-2])
    assert len(found) == 3
    assert sizes == [12, 3], sizes


def test_an_opt_out_whose_address_changes_is_found_by_the_new_one(db: Session) -> None:
    client = _client(db)
    row = OptOut(
        client_id=client.id, channel="sms", address=PHONE, reason="replied STOP", source="t"
    )
    db.add(row)
    db.flush()
    row.address = "+13125550199"
    db.flush()
    assert active_opt_outs(db, Channel.SMS, "+13125550199") == [row]
    assert not active_opt_outs(db, Channel.SMS, PHONE)
