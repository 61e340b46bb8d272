"""Migrations build the whole data model from empty, on SQLite and PostgreSQL, like the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, check, upgrade
from proirp.models import Base
from tests.databases import fresh_database

NODE_VERSION_CALENDAR_TABLES = {
    "calendar_integrations",
    "synced_calendar_events",
    "calendar_sync_status",
    "client_calendar_events",
}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_up_from_empty_down_and_up_again(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_db_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert tables >= NODE_VERSION_CALENDAR_TABLES
        check(url)  # models and migrations agree (alembic check)

        command.downgrade(alembic_config(url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
