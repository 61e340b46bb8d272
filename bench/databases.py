"""Which database and queue a benchmark runs on: PostgreSQL with the Redis queue (the production
set-up) when they are reachable, else SQLite with the embedded queue; `--database` chooses."""

from __future__ import annotations

import argparse
import os

from tests.databases import postgres_admin_url, postgres_unreachable_reason


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=["postgres", "sqlite"],
        default=None,
        help="postgres (with the Redis queue: the production set-up) when one is reachable",
    )


def use_database(choice: str | None) -> None:
    """Point the live stack at the chosen database and queue, and say which."""
    database = choice or ("sqlite" if postgres_unreachable_reason() else "postgres")
    if database == "postgres":
        os.environ["DATABASE_URL"] = postgres_admin_url()
        os.environ["QUEUE_BACKEND"] = "redis"
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["QUEUE_BACKEND"] = "sqlite"
    print(f"database: {database}, queue: {os.environ['QUEUE_BACKEND']}")
