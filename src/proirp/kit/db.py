"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, MetaData, String, Table, event, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeEngine

from proirp.kit.files import private_sqlite_file
from proirp.kit.time import UTCDateTime, utcnow

T = TypeVar("T")
# Values per `IN (...)` list: well within every database's limit on bound parameters.
IN_LIST_SIZE = 1000


def in_batches(items: Sequence[T]) -> Iterator[list[T]]:
    """`items` in slices of IN_LIST_SIZE, one `IN (...)` query's worth each."""
    for start in range(0, len(items), IN_LIST_SIZE):
        yield list(items[start : start + IN_LIST_SIZE])


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A new opaque record id."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, TypeEngine[Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def create_db_engine(url: str) -> Engine:
    """An engine for `url`, with SQLite set up for a web server and a worker sharing one file.

    Its errors never quote the values a statement was given (a searched name, an address)."""
    from sqlalchemy import create_engine

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Each statement planned with its values: psycopg prepares a statement it has run five
        # times, and PostgreSQL would then plan it once for any value. That generic plan reads
        # a table newest first for a rare audit action or a client search, and the whole table
        # when few rows match (decision 0027).
        options = {"options": "-c plan_cache_mode=force_custom_plan"}
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=options)

    if parsed.database and parsed.database != ":memory:":
        # Made 0600 before SQLite opens it; SQLite gives its WAL and shared memory the same mode.
        private_sqlite_file(Path(parsed.database))
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes fails
        # with SQLITE_BUSY when another writer got in between, which would fork the audit chain.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows into `table` in `session`'s transaction: each row has the same keys and
    gives every value the row needs (no column default is applied). On PostgreSQL one COPY, a
    fraction of the server's work for as many INSERTs; elsewhere one executemany. Values go
    through their columns' types either way (an `EncryptedText` value is encrypted)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    keys = list(rows[0])
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
    quote = dialect.identifier_preparer.quote
    copy_sql = f"COPY {quote(table.name)} ({', '.join(quote(key) for key in keys)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(
                    [
                        value if process is None else process(value)
                        for process, value in zip(
                            processors, (row[key] for key in keys), strict=True
                        )
                    ]
                )
    except dialect.loaded_dbapi.IntegrityError as exc:
        # As an INSERT's would be: callers catch SQLAlchemy's error (a unique row already there).
        raise IntegrityError(copy_sql, None, exc) from exc


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Any constant works; it only has to be the same for every writer that takes it.
_SHARED_WRITES_LOCK_KEY = 0x50524F495250  # "PROIRP"


def lock_shared_writes(session: Session) -> None:
    """Take the writers' turn until this transaction ends.

    A transaction that changes rows others may be changing at the same time (a message's status,
    the inbox's threads, reminders, staff accounts) takes it before touching them, so writers of
    those rows take turns instead of meeting half-way, and two of them cannot deadlock on
    PostgreSQL (one holding a row the other needs while it waits for the other's row). SQLite's
    BEGIN IMMEDIATE gives the same order by itself. Audit rows need no turn of their own: they
    are appended without a lock and chained afterwards (proirp.audit.chainer).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SHARED_WRITES_LOCK_KEY}
        )
