"""On PostgreSQL every statement is planned with its values (plan_cache_mode): once psycopg has
prepared a statement (its sixth run), PostgreSQL would otherwise plan it once for any value, and
that generic plan read the whole clients table for a search that matches few (decision 0027)."""

from __future__ import annotations

from pathlib import Path

from proirp.kit.db import create_db_engine
from tests.databases import fresh_database


def test_every_connection_plans_each_statement_with_its_values(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url:
        engine = create_db_engine(url)
        try:
            for _ in range(2):  # a new connection, and one back from the pool
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == (
                        "force_custom_plan"
                    )
        finally:
            engine.dispose()
