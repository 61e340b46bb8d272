"""How a search finds clients whose names are encrypted (decision 0033): for each way what was
typed can match (`identity.wanted_pieces`), the clients holding every one of its hashed pieces.

Every step is a lookup by the pieces' primary key (piece, client), so that both databases do the
same few reads whatever their planners think. A way is answered from its rarest piece: the
clients holding it, then which of those hold the others. When every piece of a way is common (a
first name thousands share), the list is read newest first, a batch of clients at a time, and
each batch is asked which of its clients hold the pieces: a page fills after a batch or two.
The caller says how many holders make a piece common (`plenty`): clients/repository.py asks the
newest clients first when more than a few hundred hold every piece, and counts further only if
few of them match (decision 0033).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from proirp.clients import identity
from proirp.clients.models import ClientSearchGram
from proirp.kit.db import in_batches

# A piece held by more clients than this is common: counted no further, and a way made only of
# common pieces is answered a batch of clients at a time.
COMMON = 2_000

Ways = list[frozenset[int]]
# Pieces of a way asked of the database: its rarest; the others add little but statements.
ASKED = 3


def ways_of(session: Session, q: str, *, phone: bool = True) -> Ways:
    """The ways `q` can match, as hashed pieces (with `phone`: its digits in the phone too)."""
    return identity.wanted_pieces(identity.search_key(session), q, phone=phone)


def _counts(session: Session, pieces: Collection[int], most: int) -> dict[int, int]:
    """How many clients hold each piece, up to `most` + 1 (no piece's clients are all read)."""
    counted = []
    for piece in sorted(pieces):
        some = (
            select(ClientSearchGram.client_id)
            .where(ClientSearchGram.gram == piece)
            .limit(most + 1)
            .subquery()
        )
        counted.append(
            select(literal(piece).label("piece"), func.count().label("n")).select_from(some)
        )
    if not counted:
        return {}
    return {row.piece: row.n for row in session.execute(union_all(*counted))}


def holders(session: Session, ways: Ways, ids: Collection[str]) -> set[str]:
    """Which of the clients `ids` hold every piece of one of `ways`: a piece at a time, each
    asked of the clients still in the running by the key (piece, client)."""
    found: set[str] = set()
    for way in ways:
        running = set(ids) - found
        for piece in sorted(way):
            if not running:
                break
            held: set[str] = set()
            for chunk in in_batches(sorted(running)):
                held.update(
                    session.scalars(
                        select(ClientSearchGram.client_id).where(
                            ClientSearchGram.gram == piece, ClientSearchGram.client_id.in_(chunk)
                        )
                    )
                )
            running = held
        found |= running
    return found


class Candidates(NamedTuple):
    ways: Ways  # each kept to its ASKED rarest pieces (what they miss, the decrypted test catches)
    # The clients holding every piece of one of them; None when a way's every piece is held by
    # more than `plenty` clients and `common` is False (the caller then asks `holders` of its
    # own clients, a batch at a time).
    known: set[str] | None
    rarest: frozenset[int]  # each way's rarest piece: every client in `known` holds one


def candidates(
    session: Session, ways: Ways, *, common: bool, plenty: int | None = None
) -> Candidates:
    """The candidates of a search for `ways`, each way read from its rarest piece (`plenty`:
    COMMON unless given)."""
    plenty = COMMON if plenty is None else plenty
    counts = _counts(session, {piece for way in ways for piece in way}, plenty)
    asked = [frozenset(sorted(way, key=lambda p: (counts.get(p, 0), p))[:ASKED]) for way in ways]
    found: set[str] = set()
    read: set[int] = set()
    for way in asked:
        rarest = min(way, key=lambda piece: counts.get(piece, 0))
        if not counts.get(rarest):
            continue  # a piece no one holds: this way matches no one
        if counts[rarest] > plenty and not common:
            return Candidates(asked, None, frozenset())
        read.add(rarest)
        held = set(
            session.scalars(
                select(ClientSearchGram.client_id).where(ClientSearchGram.gram == rarest)
            )
        )
        found |= holders(session, [way], held) if len(way) > 1 else held
    return Candidates(asked, found, frozenset(read))
