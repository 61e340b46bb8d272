"""Queries for clients and opt-outs."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Select, String, and_, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from proirp.clients.models import Channel, Client, OptOut
from proirp.kit.pagination import Cursor


def get_client(session: Session, client_id: str) -> Client | None:
    client = session.get(Client, client_id)
    if client is None or client.deleted_at is not None:
        return None
    return client


LIKE_ESCAPE = "/"


def _escaped(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def list_clients(
    session: Session,
    *,
    q: str | None,
    limit: int,
    cursor: Cursor | None,
    team: Collection[str] | None = None,
) -> Sequence[Client]:
    """Newest first; `q` matches names, email, or the digits of a phone number, or (several
    words, a full name) each word a name or the email; `team`: the ids of the only clients the
    caller may see (a clinician's care team; None: every client)."""
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
    if q:
        # The pattern is made here, whole, so that PostgreSQL plans with it (and sees that the
        # trigram indexes of migration 0013 find few rows; kit.db has every statement planned
        # with its values); the search is text, not a LIKE pattern: % and _ match only
        # themselves.
        texts = (shown.first_name, shown.last_name, shown.email)
        conditions: list[ColumnElement[bool]] = [_holds(texts, q)]
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            conditions.append(shown.phone.like(f"%{digits}%"))
        words = q.split()
        if len(words) > 1:
            conditions.append(and_(*(_holds(texts, word) for word in words)))
        stmt = stmt.where(or_(*conditions))
        if session.get_bind().dialect.name == "sqlite" and len(q) >= TRIGRAM:
            phrase = _trigram_phrase(q, digits, words)
            if phrase is not None:
                stmt = stmt.where(shown.id.in_(_trigram_candidates(phrase)))
    if cursor is not None:
        stmt = stmt.where(cursor.before(shown.created_at, shown.id))
    stmt = stmt.order_by(shown.created_at.desc(), shown.id.desc()).limit(limit + 1)
    return session.scalars(stmt).all()


# SQLite's search table (migration 0022) finds the clients whose fields hold a phrase of three
# characters or more from its trigram index; the LIKE tests above still decide (they are exact).
TRIGRAM = 3
_CANDIDATES = text(
    "SELECT r.client_id FROM clients_search_rows r WHERE r.rowid IN"
    " (SELECT rowid FROM clients_search WHERE clients_search MATCH :phrase)"
).columns(client_id=String)


def _holds(
    columns: tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], ...], text: str
) -> ColumnElement[bool]:
    """One of `columns` holds `text`, case aside."""
    pattern = f"%{_escaped(text.lower())}%"
    return or_(*(func.lower(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))


def _in_texts(text: str) -> str:
    return '{first_name last_name email} : "' + text.replace('"', '""') + '"'


def _trigram_phrase(q: str, digits: str, words: list[str]) -> str | None:
    """What the search table is asked: the clients whose names or email hold `q`, or each of
    its `words`, or whose phone holds `digits`. None when a word is too short for the trigram
    index (the LIKE tests alone decide then)."""
    phrase = _in_texts(q)
    if len(words) > 1:
        if any(len(word) < TRIGRAM for word in words):
            return None
        phrase += " OR (" + " AND ".join(_in_texts(word) for word in words) + ")"
    if len(digits) >= TRIGRAM:
        phrase += f' OR phone : "{digits}"'
    return phrase


def _trigram_candidates(phrase: str) -> Select[tuple[str]]:
    """The ids of the clients the search table finds for `phrase`: a superset of what the LIKE
    tests keep (FTS5 folds case as lower() does, and more)."""
    return select(_CANDIDATES.bindparams(phrase=phrase).subquery().c.client_id)


def opted_out_addresses(session: Session, channel: Channel, addresses: Iterable[str]) -> set[str]:
    """Which of `addresses` have an active opt-out on `channel`."""
    wanted = {address for address in addresses if address}
    if not wanted:
        return set()
    stmt = select(OptOut.address).where(
        OptOut.channel == channel,
        OptOut.address.in_(wanted),
        OptOut.revoked_at.is_(None),
    )
    return set(session.scalars(stmt))


def active_opt_outs(session: Session, channel: Channel, address: str) -> Sequence[OptOut]:
    """The active opt-outs of `address` on `channel`, oldest first (what put it there, when)."""
    stmt = (
        select(OptOut)
        .where(OptOut.channel == channel, OptOut.address == address, OptOut.revoked_at.is_(None))
        .order_by(OptOut.created_at, OptOut.id)
    )
    return session.scalars(stmt).all()
