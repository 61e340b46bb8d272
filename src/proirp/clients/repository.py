"""Queries for clients and opt-outs."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, aliased

from proirp.clients import identity, search
from proirp.clients.models import Channel, Client, ClientSearchGram, OptOut
from proirp.kit.db import in_batches
from proirp.kit.pagination import Cursor


def get_client(session: Session, client_id: str) -> Client | None:
    client = session.get(Client, client_id)
    if client is None or client.deleted_at is not None:
        return None
    return client


def list_clients(
    session: Session,
    *,
    q: str | None,
    limit: int,
    cursor: Cursor | None,
    team: Collection[str] | None = None,
) -> Sequence[Client]:
    """Newest first (up to `limit` + 1, to tell whether more follow); `q` matches as
    `identity.matches` says: each word in a name or the email, or the digits of the phone;
    `team`: the ids of the only clients the caller may see (a clinician's care team; None: every
    client)."""
    shown: type[Client] = Client
    if team is not None:
        # The team's clients are read by id, first and apart (a materialized CTE on PostgreSQL;
        # SQLite, whose MATERIALIZED needs 3.35, reads them by key in place), then ordered: the
        # few rows of a team cost the same at any size, where PostgreSQL otherwise walked every
        # client newest first, throwing away other teams' (all of them, for a team of old
        # clients).
        rows = select(Client).where(Client.id.in_(list(team)), Client.deleted_at.is_(None))
        shown = aliased(Client, rows.cte("team").prefix_with("MATERIALIZED", dialect="postgresql"))
    stmt = select(shown).where(shown.deleted_at.is_(None))
    newest_first = (shown.created_at.desc(), shown.id.desc())
    searched = (q or "").strip()
    if not searched:
        if cursor is not None:
            stmt = stmt.where(cursor.before(shown.created_at, shown.id))
        return session.scalars(stmt.order_by(*newest_first).limit(limit + 1)).all()
    return _searched(session, stmt, shown, searched, limit, cursor)


def _searched(
    session: Session,
    stmt: Select[Client],
    shown: type[Client],
    q: str,
    limit: int,
    cursor: Cursor | None,
) -> list[Client]:
    """The page of a search for `q`. The names are encrypted: the clients holding every hashed
    piece of `q` are the candidates (clients/search.py), and each is decrypted and kept only if
    it truly matches (a candidate that does not is rare: its pieces are all there, in another
    order). When many clients hold every piece, the newest are asked first: a page of a name
    most clients share fills from the first batch; if few of them match, the candidates are
    read from the holders of the rarest piece after all."""
    every_way = search.ways_of(session, q)
    ways, known, rarest = search.candidates(session, every_way, common=False, plenty=PLENTY)
    listed = select(shown.id, shown.created_at).where(shown.deleted_at.is_(None))
    ids = _kept_to(listed, shown, known, rarest)
    newest_first = (shown.created_at.desc(), shown.id.desc())
    batch_size, scanned, since = (limit + 1) * (1 if known is not None else TRIAL), 0, 0
    found: list[Client] = []
    while True:
        page = ids if cursor is None else ids.where(cursor.before(shown.created_at, shown.id))
        batch = session.execute(page.order_by(*newest_first).limit(batch_size)).all()
        kept = [row.id for row in batch]
        if known is None:
            held = search.holders(session, ways, kept)
            kept = [i for i in kept if i in held]
        elif len(known) > FEW:
            kept = [i for i in kept if i in known]
        matched = _matching(session, stmt, shown, kept, q, limit + 1 - len(found))
        found += matched
        scanned += len(batch)
        if len(found) > limit or len(batch) < batch_size:
            return found[: limit + 1]
        cursor = Cursor(batch[-1].created_at, batch[-1].id)
        if known is None and scanned == len(batch) and len(found) * SPARSE < scanned:
            ways, known, rarest = search.candidates(session, every_way, common=False)
            ids = _kept_to(listed, shown, known, rarest)
            if known is not None:
                # Read from the candidates now, which match far more often than the newest
                # clients did: sized afresh from a page's worth of what is still wanted.
                since, scanned, batch_size = len(found), 0, limit + 1 - len(found)
                continue
        # Many candidates, or common pieces: the list is read in batches, newest first, each
        # kept to the candidates (never a long IN list in a statement).
        wanted = limit + 1 - since
        batch_size = _next_batch(batch_size, scanned, len(found) - since, wanted, bool(matched))


_Ids = Select[str, datetime]


def _kept_to(
    listed: _Ids, shown: type[Client], known: set[str] | None, rarest: Collection[int]
) -> _Ids:
    """The list's ids kept, in the statement, to the candidates `known` when they are few, and
    else to the holders of a way's rarest piece (what `known` was read from: the database
    skips the others, where reading the whole list newest first and keeping to `known` in
    Python read a hundred clients for each candidate of a name one in a hundred has)."""
    if known is None:
        return listed
    if len(known) <= FEW:
        return listed.where(shown.id.in_(sorted(known)))
    held = select(ClientSearchGram.client_id).where(ClientSearchGram.gram.in_(sorted(rarest)))
    return listed.where(shown.id.in_(held))


# A search whose every piece more clients than this hold asks the newest clients first, a
# TRIAL pages' worth; if fewer than one in SPARSE of them match, it reads the candidates from
# the holders of its rarest piece (counted up to search.COMMON) instead.
PLENTY = 250
TRIAL = 4
SPARSE = 16
# Candidates few enough to be named in the statement; more are kept to in Python.
FEW = 200
# The most clients read at a time, newest first, when a search's candidates are many.
SCAN = 2_000


def _matching(
    session: Session,
    stmt: Select[Client],
    shown: type[Client],
    kept: list[str],
    q: str,
    wanted: int,
) -> list[Client]:
    """The first `wanted` of the candidates `kept` (newest first) that truly match `q`: read and
    decrypted as many at a time as are still wanted (a candidate that does not match is rare),
    never the rest of a batch the page does not need; twice as many after a read with misses,
    so that candidates that do not match are never read one by one."""
    matched: list[Client] = []
    at = step = 0
    while at < len(kept) and len(matched) < wanted:
        step = max(wanted - len(matched), step * 2)
        ids = kept[at : at + step]
        at += len(ids)
        loaded = {c.id: c for c in session.scalars(stmt.where(shown.id.in_(ids)))}
        matched += [loaded[i] for i in ids if i in loaded and identity.matches(loaded[i], q)]
    return matched


def _next_batch(size: int, scanned: int, found: int, wanted: int, grew: bool) -> int:
    """How many clients to read next: what the matches so far say the rest of the page needs,
    and a quarter more (at least as many as the last batch, twice as many if it matched no
    one); four times the last batch while nothing has matched; never more than SCAN."""
    if not found:
        return min(size * 4, SCAN)
    needed = math.ceil((wanted - found) * scanned / found * 1.25)
    return min(max(needed, size if grew else size * 2), SCAN)


def ids_named(session: Session, q: str, ids: Iterable[str]) -> set[str]:
    """Which of the clients `ids` have a name matching `q` (as a search would, names only)."""
    held = search.candidates(session, search.ways_of(session, q, phone=False), common=True).known
    wanted = sorted(set(ids) & (held or set()))
    named: set[str] = set()
    for chunk in in_batches(wanted):
        for client in session.scalars(select(Client).where(Client.id.in_(chunk))):
            if identity.matches(client, q, identity.NAMES):
                named.add(client.id)
    return named


def opted_out_addresses(session: Session, channel: Channel, addresses: Iterable[str]) -> set[str]:
    """Which of `addresses` have an active opt-out on `channel`."""
    given = {address for address in addresses if address}
    if not given:
        return set()
    wanted = identity.address_hashes(session, channel, given)
    stmt = select(OptOut.address_hash).where(
        OptOut.channel == channel,
        OptOut.address_hash.in_(wanted),
        OptOut.revoked_at.is_(None),
    )
    return {address for found in session.scalars(stmt) for address in wanted[found]}


def active_opt_outs(session: Session, channel: Channel, address: str) -> Sequence[OptOut]:
    """The active opt-outs of `address` on `channel`, oldest first (what put it there, when)."""
    stmt = (
        select(OptOut)
        .where(*active_opt_out_of(session, channel, address))
        .order_by(OptOut.created_at, OptOut.id)
    )
    return session.scalars(stmt).all()


def active_opt_out_of(
    session: Session, channel: Channel, address: str
) -> tuple[ColumnElement[bool], ...]:
    """What an active opt-out of `address` on `channel` is, as a query's conditions: found by
    the address's hash (the address itself is stored encrypted)."""
    return (
        OptOut.channel == channel,
        OptOut.address_hash == identity.address_hash(session, channel, address),
        OptOut.revoked_at.is_(None),
    )
