"""The query plan of what a piece of code asks the database (for tests that an index is used)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


def plan_of(
    db: Session, call: Callable[[], Any], *, avoid: tuple[str, ...] = ("seqscan", "sort")
) -> str:
    """Run `call`, then EXPLAIN the last SELECT (or WITH ... SELECT) it sent, and give the plan
    as text. PostgreSQL is told to avoid `avoid` (by default sequential scans and sorts: a few
    test rows make a scan the cheapest plan, which the same query at size would not choose): an
    index that answers the filter and the order is then the plan, and one that is missing
    shows."""
    connection = db.connection()
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    for setting in avoid:
        connection.exec_driver_sql(f"SET LOCAL enable_{setting} = off")
    try:
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)
    finally:
        for setting in avoid:
            connection.exec_driver_sql(f"RESET enable_{setting}")
