"""Throw-away databases for tests: a SQLite file, or a fresh database on a PostgreSQL server.

PostgreSQL-only tests skip when no server answers, unless PROIRP_REQUIRE_SERVICES=1 (set by CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def services_required() -> bool:
    return os.environ.get("PROIRP_REQUIRE_SERVICES") == "1"


def postgres_admin_url() -> str:
    """A URL to a PostgreSQL database we may CREATE DATABASE from."""
    url = os.environ.get("PROIRP_TEST_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = DEFAULT_ADMIN_URL
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def postgres_unreachable_reason() -> str | None:
    try:
        engine = create_engine(postgres_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL server reachable ({type(exc).__name__})"
    return None


def require_postgres() -> None:
    reason = postgres_unreachable_reason()
    if reason is None:
        return
    if services_required():
        pytest.fail(f"{reason}, and PROIRP_REQUIRE_SERVICES=1 says it must be")
    pytest.skip(reason)


def require_redis(url: str) -> None:
    """Skip (or, with PROIRP_REQUIRE_SERVICES=1, fail) when no Redis server answers at `url`."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if services_required():
            pytest.fail(f"Redis unreachable ({type(exc).__name__}) and PROIRP_REQUIRE_SERVICES=1")
        pytest.skip(f"no Redis server reachable ({type(exc).__name__})")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it afterwards."""
    require_postgres()
    admin_url = make_url(postgres_admin_url())
    name = f"proirp_test_{uuid.uuid4().hex[:12]}"
    # No pool: a connection kept from the CREATE would be dead after the server restarts.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(kind: str, tmp_dir: Path) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgres")."""
    if kind == "postgres":
        with fresh_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_dir / f'{uuid.uuid4().hex[:8]}.db'}"


def stored(url: str, *tables: str) -> str:
    """The database's revision and every row of `tables` as stored, as text: where a test of a
    migration that encrypts values looks for them."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
        rows = [row for table in tables for row in conn.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return "\n".join([str(revision), *(str(tuple(row)) for row in rows)])
