"""The default rules are stored the first time planning needs them: two planners doing that at
once (each saw no rule) store them once, and both plan with the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.appointments import practice
from proirp.appointments.models import ReminderRule
from proirp.appointments.practice import DEFAULT_RULES, planning_rules
from proirp.kit.db import transaction
from tests.comms.rows import own_database


@pytest.fixture
def factory(tmp_path: Path, app: FastAPI) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path) as made:
        yield made


def test_two_first_planners_store_the_defaults_once(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(factory) as session:
        first = planning_rules(session)  # the other planner, committed first
    # This one looked before the other committed, so it saw no rule and stores them too.
    monkeypatch.setattr(practice, "_any_rule", lambda session: False)
    with transaction(factory) as session:
        second = planning_rules(session)
    assert {(r.id, r.key) for r in second} == {(r.id, r.key) for r in first}
    with factory() as session:
        keys = session.scalars(select(ReminderRule.key)).all()
    assert sorted(keys) == sorted(rule.key for rule in DEFAULT_RULES)
