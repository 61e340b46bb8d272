"""Alembic environment: the URL comes from Settings (or the caller), the metadata from proirp.models."""

from __future__ import annotations

from alembic import context
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Date, String
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from proirp.kit.crypto import ENCRYPTED_TYPES
from proirp.kit.db import create_db_engine
from proirp.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=_compare_type,
        include_object=_compared,
    )
    with context.begin_transaction():
        context.run_migrations()


def _compared(obj: object, name: str | None, type_: str, reflected: bool, _other: object) -> bool:
    """What `db check` compares: everything but what exists on one database only and the models
    cannot declare: PostgreSQL's trigram indexes (migration 0013), SQLite's client search
    tables (clients_search and FTS5's own tables under that name; migration 0022) and SQLite's
    UNIQUE (email) on `users`, kept there over encrypted addresses (migration 0032)."""
    if not reflected:
        return True
    if type_ == "index":
        return not (name or "").endswith("_trgm")
    if type_ == "unique_constraint":
        return name != "uq_users_email"
    return not (type_ == "table" and (name or "").startswith("clients_search"))


def _compare_type(
    migration: MigrationContext,
    _inspected_column: object,
    _metadata_column: object,
    inspected_type: TypeEngine[object],
    metadata_type: TypeEngine[object],
) -> bool | None:
    """Alembic's own comparison, but for encrypted columns on SQLite: a column that became
    `EncryptedText`, `EncryptedDate` or `EncryptedJSON` keeps its declared VARCHAR, DATE or JSON
    there (SQLite stores text as text whatever type it declares, and changing it would rebuild
    the table; migrations 0028, 0029 and 0034)."""
    encrypted = isinstance(metadata_type, ENCRYPTED_TYPES)
    if encrypted and isinstance(inspected_type, String | Date | JSON):
        return False if migration.dialect.name == "sqlite" else None
    return None


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `proirp db upgrade`")
run_migrations_online()
