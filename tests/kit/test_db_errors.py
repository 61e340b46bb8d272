"""A database error names the statement, never the values it was given: they are what a client
typed or a client's record (a search for a name, an address)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from proirp.kit.db import create_db_engine


def test_a_failed_statement_does_not_carry_its_parameters(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
            connection.execute(
                text("SELECT id FROM no_such_table WHERE name = :name"),
                {"name": "Zebediah Quinn"},
            )
    finally:
        engine.dispose()
    assert "no_such_table" in str(caught.value)
    assert "Zebediah" not in str(caught.value)
