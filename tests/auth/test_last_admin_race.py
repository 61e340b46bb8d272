"""Two admins, each demoting or disabling the other at the same moment: one wins and the other is
refused as the last active admin, on SQLite and PostgreSQL, in a database of their own (each
transaction commits for real, on connections of its own)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.auth import staff
from proirp.auth.models import User
from proirp.kit.db import create_db_engine, create_session_factory, transaction
from proirp.kit.errors import Conflict
from proirp.migrations.commands import upgrade
from tests.databases import fresh_database
from tests.factories import create_user

Change = Callable[[Session, str], object]


@pytest.fixture
def own_database(app: FastAPI, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh migrated database of the run's kind (the app installed the chain's
    keys, which the audit rows are signed with)."""
    kind = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_db_engine(url)
        try:
            yield create_session_factory(engine)
        finally:
            engine.dispose()


def _disable(session: Session, user_id: str) -> object:
    return staff.disable_user(session, user_id, actor=None)


def _demote(session: Session, user_id: str) -> object:
    return staff.set_role(session, user_id, "clinician", actor=None)


@pytest.mark.parametrize(
    ("first", "second"),
    [(_disable, _disable), (_demote, _demote), (_disable, _demote)],
    ids=["both-disable", "both-demote", "disable-and-demote"],
)
def test_two_admins_at_once_leave_one_admin(
    own_database: sessionmaker[Session], first: Change, second: Change
) -> None:
    with transaction(own_database) as session:
        a = create_user(session, role="admin").id
        b = create_user(session, role="admin").id

    holding = threading.Event()
    release = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def first_admin() -> None:
        try:
            with transaction(own_database) as session:
                first(session, b)
                holding.set()
                release.wait(10)  # hold the transaction open while the other one starts
            outcome["first"] = None
        except BaseException as exc:
            holding.set()
            outcome["first"] = exc

    def second_admin() -> None:
        try:
            with transaction(own_database) as session:
                second(session, a)
            outcome["second"] = None
        except BaseException as exc:
            outcome["second"] = exc

    one = threading.Thread(target=first_admin)
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=second_admin)
    two.start()
    two.join(1.0)
    # The second waits for the first's lock, rather than counting two admins and going ahead.
    assert two.is_alive(), "the second change did not wait for the first"
    release.set()
    one.join(20)
    two.join(20)

    assert outcome["first"] is None
    assert isinstance(outcome["second"], Conflict) and outcome["second"].code == "last_admin"
    with transaction(own_database) as session:
        admins = select(func.count()).where(User.role == "admin", User.is_active.is_(True))
        assert session.scalar(admins) == 1
