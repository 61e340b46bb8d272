"""Who a client is, kept encrypted and found all the same (decision 0033).

A client's names, phone and email are `EncryptedText`. Beside them the database holds keyed
hashes (HMAC-SHA256 under a random key of the database's own, stored encrypted under the vault):
one of the phone, for exact lookups (whose number a reply came from), and,
in `client_search_grams`, one of each piece of each field: every three characters in a row, and
the first one and two characters of each word. A search asks for the clients holding every piece
of what was typed, then decrypts those few and keeps the ones that truly match (`matches`).

An opt-out's address is encrypted too, and found by its own keyed hash (`address_hashes`), the
same for a phone as the client's.

The hashes are written by the mapper's own events, so every insert and update of a `Client`
through the ORM keeps them in step; code that writes clients in bulk calls `client_pieces` and
`with_hashes` itself (the migration that encrypted existing rows, the benchmarks' seeding).
Changing how pieces are made needs a migration that makes every client's again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect
from sqlalchemy.orm import Mapper

from proirp.clients.models import Client, ClientSearchGram, OptOut
from proirp.kit.keyed_hash import KEY_NAME as KEY_NAME  # the key and exact hashes, named
from proirp.kit.keyed_hash import Executes  # here too: the clients' code and migrations use them
from proirp.kit.keyed_hash import exact_hash as exact_hash
from proirp.kit.keyed_hash import search_key as search_key

SEARCHED = ("first_name", "last_name", "email", "phone")
PIECE = 3  # characters in a row: a search word this long or longer is found anywhere in a field
# Six in a row as well: a longer search asks for those, which few clients hold unless they
# truly match (three-character pieces of "client3@" are held, apart, by a thousand addresses).
LONG = 6
_WORD = re.compile(r"\w+")


def _gram(key: bytes, piece: str) -> int:
    digest = hmac.new(key, b"piece\0" + piece.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _runs(text: str, n: int) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def _pieces_of(text: str) -> set[str]:
    """Every three and every six characters in a row of `text` (case aside), and "^" with the
    first one and two characters of each of its words."""
    text = text.lower()
    pieces = _runs(text, PIECE) | _runs(text, LONG)
    for word in _WORD.findall(text):
        pieces.update("^" + word[:n] for n in range(1, min(len(word), PIECE - 1) + 1))
    return pieces


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _field(client: Any, field: str) -> str | None:
    value = client.get(field) if isinstance(client, Mapping) else getattr(client, field)
    return None if value is None else str(value)


def client_pieces(key: bytes, client: Any) -> set[int]:
    """The hashed pieces a client (a `Client`, or its columns as a mapping) is found by: of its
    names and email, and of its phone's digits."""
    pieces: set[str] = set()
    for field in ("first_name", "last_name", "email"):
        if value := _field(client, field):
            pieces |= _pieces_of(value)
    if phone := _field(client, "phone"):
        pieces |= _pieces_of(_digits(phone))
    return {_gram(key, piece) for piece in pieces}


def with_hashes(key: bytes, row: Mapping[str, Any]) -> dict[str, Any]:
    """A client's columns (a mapping) with the hash that finds its phone."""
    return {**row, "phone_hash": exact_hash(key, "phone", _field(row, "phone"))}


def add_clients(db: Executes, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert clients given as their columns (each with its `id`) in bulk, with their hashes
    and pieces (a bulk insert does not run the mapper's events)."""
    key = search_key(db)
    db.execute(insert(Client), [with_hashes(key, row) for row in rows])
    grams = [{"gram": g, "client_id": row["id"]} for row in rows for g in client_pieces(key, row)]
    if grams:
        db.execute(insert(ClientSearchGram), grams)


def _word_pieces(word: str) -> set[str]:
    word = word.lower()
    if len(word) < PIECE:
        return {"^" + word}
    return _runs(word, LONG if len(word) >= LONG else PIECE)


def wanted_pieces(key: bytes, q: str, *, phone: bool = True) -> list[frozenset[int]]:
    """What a search for `q` asks of the pieces: each set is one way to match (`q` whole; every
    word of it; with `phone`, the digits of a phone), and a client matches one of them when it
    holds all its pieces."""
    ways: list[frozenset[int]] = []
    if len(q) >= PIECE:
        ways.append(frozenset(_gram(key, piece) for piece in _word_pieces(q)))
    words = q.split()
    if len(words) > 1 or (words and len(words[0]) < PIECE):
        ways.append(frozenset(_gram(key, p) for word in words for p in _word_pieces(word)))
    digits = _digits(q)
    if phone and len(digits) >= PIECE:
        ways.append(frozenset(_gram(key, piece) for piece in _word_pieces(digits)))
    return list(dict.fromkeys(ways))  # a way asked twice (digits typed alone) once


def _word_found(word: str, texts: list[str]) -> bool:
    """`word` (three characters or more) in one of `texts`, or (fewer) the start of a word in
    one; texts and word in lower case."""
    if len(word) >= PIECE:
        return any(word in text for text in texts)
    return any(w.startswith(word) for text in texts for w in _WORD.findall(text))


NAMES = ("first_name", "last_name")


def matches(client: Any, q: str, fields: tuple[str, ...] = (*NAMES, "email", "phone")) -> bool:
    """Whether `client` matches a search for `q` in `fields`: `q` whole in a name or the email
    (case aside), or every word of it there (a full name; a word of one or two characters: the
    start of a word), or three digits or more of it in the phone."""
    texts = [v.lower() for f in fields if f != "phone" and (v := _field(client, f))]
    q = q.lower()
    if len(q) >= PIECE and any(q in text for text in texts):
        return True
    words = q.split()
    if words and all(_word_found(word, texts) for word in words):
        return True
    digits, phone = _digits(q), _field(client, "phone") if "phone" in fields else None
    return len(digits) >= PIECE and bool(phone) and digits in _digits(phone or "")


def phone_hashes(db: Executes, phones: Iterable[str]) -> dict[str, str]:
    """Each phone's keyed hash, by hash."""
    key = search_key(db)
    return {exact_hash(key, "phone", phone) or "": phone for phone in phones}


def address_hashes(db: Executes, channel: str, addresses: Iterable[str]) -> dict[str, set[str]]:
    """Each address's keyed hash on `channel` ("sms": a phone in E.164; "email": an address,
    case and surrounding space aside), with the addresses given that have it (two spellings of
    one address share it): what an opt-out is found by."""
    key = search_key(db)
    by_hash: dict[str, set[str]] = {}
    for address in addresses:
        by_hash.setdefault(keyed_address(key, channel, address), set()).add(address)
    return by_hash


def keyed_address(key: bytes, channel: str, address: str) -> str:
    """The keyed hash of an address on `channel` under `key` (`address_hashes`)."""
    return exact_hash(key, "phone" if channel == "sms" else "email", address.strip()) or ""


def address_hash(db: Executes, channel: str, address: str) -> str:
    """The keyed hash of one address on `channel` (`address_hashes`)."""
    return next(iter(address_hashes(db, channel, [address])))


@event.listens_for(OptOut, "before_insert")
@event.listens_for(OptOut, "before_update")
def _hash_opt_out(_mapper: Mapper[OptOut], connection: Connection, row: OptOut) -> None:
    row.address_hash = address_hash(connection, row.channel, row.address)


@event.listens_for(Client, "before_insert")
def _hash_new(_mapper: Mapper[Client], connection: Connection, client: Client) -> None:
    client.phone_hash = exact_hash(search_key(connection), "phone", client.phone)


@event.listens_for(Client, "after_insert")
def _index_new(_mapper: Mapper[Client], connection: Connection, client: Client) -> None:
    _write_pieces(connection, client)


def _changed(client: Client) -> bool:
    state = inspect(client)
    return any(state.attrs[field].history.has_changes() for field in SEARCHED)


@event.listens_for(Client, "before_update")
def _hash_changed(_mapper: Mapper[Client], connection: Connection, client: Client) -> None:
    if _changed(client):
        _hash_new(_mapper, connection, client)
        connection.execute(delete(ClientSearchGram).where(ClientSearchGram.client_id == client.id))
        _write_pieces(connection, client)


@event.listens_for(Client, "before_delete")
def _forget(_mapper: Mapper[Client], connection: Connection, client: Client) -> None:
    """A client deleted for good (they are archived in use) takes its pieces with it."""
    connection.execute(delete(ClientSearchGram).where(ClientSearchGram.client_id == client.id))


def _write_pieces(connection: Connection, client: Client) -> None:
    grams = client_pieces(search_key(connection), client)
    if grams:
        connection.execute(
            insert(ClientSearchGram), [{"gram": g, "client_id": client.id} for g in sorted(grams)]
        )
