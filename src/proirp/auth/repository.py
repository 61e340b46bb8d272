"""Queries for users, tokens and the login counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.auth.models import ApiToken, LoginCounter, User, staff_email_hash
from proirp.kit.keyed_hash import search_key


def user_by_email(session: Session, email: str) -> User | None:
    """The account signed in with `email` (case aside), found by its keyed hash."""
    hashed = staff_email_hash(search_key(session), email)
    return session.scalar(select(User).where(User.email_hash == hashed))


def user_by_id(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def all_users(session: Session) -> list[User]:
    """Every staff account, active or not (the audit log names former staff too), by email
    (sorted here: the database holds the addresses encrypted)."""
    return sorted(session.scalars(select(User)), key=lambda user: (user.email, user.id))


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))


def count_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0


_counters = cast(Table, LoginCounter.__table__)


@dataclass(frozen=True)
class Count:
    hits: int
    window_ends_at: datetime


def add_hit(
    session: Session, key: str, *, limit: int | None, window: timedelta, now: datetime
) -> Count | None:
    """Count one more hit on `key` unless it already holds `limit` in its window; None if not.

    One statement (an upsert that adds only below the limit), so tries at once cannot all read
    the same count; on PostgreSQL the row stays locked until the transaction ends.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    new_row = insert(_counters).values(key=key, hits=1, window_ends_at=now + window)
    ended = _counters.c.window_ends_at <= now
    upsert = new_row.on_conflict_do_update(
        index_elements=[_counters.c.key],
        set_={
            "hits": case((ended, 1), else_=_counters.c.hits + 1),
            "window_ends_at": case(
                (ended, new_row.excluded.window_ends_at), else_=_counters.c.window_ends_at
            ),
        },
        where=None if limit is None else or_(ended, _counters.c.hits < limit),
    )
    row = session.execute(
        upsert.returning(_counters.c.hits, _counters.c.window_ends_at)
    ).one_or_none()
    return None if row is None else Count(row.hits, row.window_ends_at)


def current_count(session: Session, key: str, *, now: datetime) -> Count | None:
    """The hits on `key` in its window, or None if it has none."""
    row = session.execute(
        select(_counters.c.hits, _counters.c.window_ends_at).where(
            _counters.c.key == key, _counters.c.window_ends_at > now
        )
    ).one_or_none()
    return None if row is None else Count(row.hits, row.window_ends_at)


def take_back_hit(session: Session, key: str) -> None:
    """Undo one hit on `key` (a try that was not a failure after all)."""
    session.execute(
        update(_counters)
        .where(_counters.c.key == key, _counters.c.hits > 0)
        .values(hits=_counters.c.hits - 1)
    )


def forget_count(session: Session, key: str) -> None:
    session.execute(delete(_counters).where(_counters.c.key == key))


def forget_ended_counts(session: Session, *, now: datetime) -> int:
    """Remove the counters whose window has ended; how many."""
    result = session.execute(delete(_counters).where(_counters.c.window_ends_at <= now))
    return int(cast(CursorResult[Any], result).rowcount or 0)
