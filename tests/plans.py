"""What a piece of code asks the database: its statements, and the query plan of the last (for
tests that an index is used)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


@contextmanager
def statements_sent(target: Any) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent through `target` (an engine or a connection) while the block runs,
    each with its parameters, in order."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(target, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", capture)


def plan_of(
    db: Session, call: Callable[[], Any], *, avoid: tuple[str, ...] = ("seqscan", "sort")
) -> str:
    """Run `call`, then EXPLAIN the last SELECT (or WITH ... SELECT) it sent, and give the plan
    as text. PostgreSQL is told to avoid `avoid` (by default sequential scans and sorts: a few
    test rows make a scan the cheapest plan, which the same query at size would not choose): an
    index that answers the filter and the order is then the plan, and one that is missing
    shows."""
    connection = db.connection()
    with statements_sent(connection) as everything:
        call()
    sent = [
        (statement, parameters)
        for statement, parameters in everything
        if statement.lstrip().upper().startswith(("SELECT", "WITH"))
    ]
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
