"""Client search at size: `GET /clients?q=` (clients/repository.list_clients) with 1,000 and
with 100,000 clients, for a search that matches nothing and one that matches a few, on SQLite and
(when reachable) PostgreSQL. The issue's target: at 100,000 within 2x its time at 1,000. The
names are encrypted (decision 0033): the hashed pieces of what was typed find the candidates,
which are decrypted and tested."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import text

from bench.audit_chain import _database, _postgres_reachable
from proirp.clients.identity import add_clients
from proirp.clients.repository import list_clients
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.db import create_db_engine, create_session_factory, transaction
from proirp.kit.time import utcnow
from proirp.migrations.commands import upgrade

SIZES = (1_000, 100_000)
RUNS = 30
FIRST = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan")
SEARCHES = {
    "matches nothing": "Zyxwvut",
    "matches five": "Marlowe",
    # What bench.size asks too: a first name an eighth of the clients share, the digits of one
    # phone, and the start of one address (both alike in thousands of others: "client3@").
    "matches 1/8": "Avery",
    # A last name one client in a hundred has, and one nearly every client has (a practice
    # whose clients mostly share a family name; `make prove`'s load area searches so).
    "matches 1/100": "Okafor",
    "matches nearly all": "Quinlan",
    "phone digits": "0000004",
    "email": "client3@",
}
FEW = 5  # clients named Marlowe at every size


def _clients(count: int) -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "id": uuid.uuid4().hex,
            "first_name": FIRST[i % len(FIRST)],
            "last_name": f"Marlowe-{i}" if i < FEW else _last_name(i),
            "email": f"client{i}@example.com",
            "phone": f"+1202{i:07d}",
            "timezone": "America/Chicago",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]


def _last_name(i: int) -> str:
    return f"Okafor-{i}" if i % 100 == 7 else f"Quinlan-{i}"


def _median_ms(factory: object, q: str) -> float:
    times = []
    for _ in range(RUNS):
        with transaction(factory) as session:  # type: ignore[arg-type]
            started = time.perf_counter()
            list_clients(session, q=q, limit=50, cursor=None)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(kind: str) -> dict[tuple[str, int], float]:
    found: dict[tuple[str, int], float] = {}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp, _database(kind, Path(tmp)) as url:
            upgrade(url)
            engine = create_db_engine(url)
            factory = create_session_factory(engine)
            rows = _clients(size)
            with transaction(factory) as session:
                for start in range(0, size, 5000):
                    add_clients(session, rows[start : start + 5000])
            # As autovacuum leaves a table after a bulk of inserts (bench.size does the same):
            # statistics, and on PostgreSQL the visibility map that lets index-only scans of
            # the pieces skip the table.
            vacuum = "VACUUM ANALYZE" if kind == "postgres" else "ANALYZE"
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(vacuum))
            for label, q in SEARCHES.items():
                found[(label, size)] = _median_ms(factory, q)
            engine.dispose()
    return found


def main() -> None:
    install_vault(Vault([Fernet.generate_key().decode()]))
    kinds = ["sqlite"] + (["postgres"] if _postgres_reachable() else [])
    print(f"client search, median of {RUNS} (ms), at {SIZES[0]:,} and {SIZES[1]:,} clients")
    print(f"{'database':<10} {'search':<18} {'1,000':>8} {'100,000':>9} {'ratio':>6}")
    for kind in kinds:
        found = run(kind)
        for label in SEARCHES:
            small, large = found[(label, SIZES[0])], found[(label, SIZES[1])]
            print(f"{kind:<10} {label:<18} {small:>8.2f} {large:>9.2f} {large / small:>6.1f}")


if __name__ == "__main__":
    main()
