"""Queries for clients and opt-outs."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Select, String, func, or_, select, text
from sqlalchemy.orm import Session, aliased
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
    """Newest first; `q` matches names, email, or the digits of a phone number; `team`: the ids
    of the only clients the caller may see (a clinician's care team; None: every client)."""
    shown: type[Client] = Client
    if team is not None:
        # The team's clients are read by id, first and apart (a materialized CTE), then ordered:
        # the few rows of a team cost the same at any size, where PostgreSQL otherwise walked
        # every client newest first, throwing away other teams' (all of them, for a team of
        # old clients).
        rows = select(Client).where(Client.id.in_(list(team)), Client.deleted_at.is_(None))
        shown = aliased(Client, rows.cte("team").prefix_with("MATERIALIZED"))
    stmt = select(shown).where(shown.deleted_at.is_(None))
    if q:
        # The pattern is made here, whole, so that PostgreSQL plans with it (and sees that the
        # trigram indexes of migration 0013 find few rows; kit.db has every statement planned
        # with its values); the search is text, not a LIKE pattern: % and _ match only
        # themselves.
        pattern = f"%{_escaped(q.lower())}%"
        conditions: list[ColumnElement[bool]] = [
            func.lower(column).like(pattern, escape=LIKE_ESCAPE)
            for column in (shown.first_name, shown.last_name, shown.email)
        ]
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            conditions.append(shown.phone.like(f"%{digits}%"))
        stmt = stmt.where(or_(*conditions))
        if session.get_bind().dialect.name == "sqlite" and len(q) >= TRIGRAM:
            stmt = stmt.where(shown.id.in_(_trigram_candidates(q, digits)))
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


def _trigram_candidates(q: str, digits: str) -> Select[tuple[str]]:
    """The ids of the clients whose names or email hold `q`, or whose phone holds `digits`:
    a superset of what the LIKE tests keep (FTS5 folds case as lower() does, and more)."""
    phrase = '{first_name last_name email} : "' + q.replace('"', '""') + '"'
    if len(digits) >= TRIGRAM:
        phrase += f' OR phone : "{digits}"'
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
