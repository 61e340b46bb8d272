"""What every area of the proof is given: its size (quick or full), a folder, the private
services, a production-shaped stack, and the record of every secret value the run used, which
the secrets area searches for afterwards."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.engine import make_url
from tests.live import LiveStack, free_port, live_stack

from prove.services import Services

EVENT_RETRY_SECONDS = 120.0  # the sandbox's SendGrid retries a refused event batch this long
# The kinds of value the secrets area searches every dump, key and log for.
KINDS = (
    "oauth token",
    "api token",
    "provider secret",
    "message body",
    "password",
    "phone number",
    "email address",
    "client name",
    "date of birth",
)


@dataclass
class Used:
    """Every secret value the run used, by kind (`prove.secrets` searches for each)."""

    values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, kind: str, *values: str | None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of secret: {kind}")
        self.values[kind].update(v for v in values if v)


@dataclass
class Run:
    quick: bool
    folder: Path
    services: Services
    used: Used = field(default_factory=Used)
    evidence: Path = field(init=False)  # dumps, Redis keys and logs kept for the secrets area

    def __post_init__(self) -> None:
        self.evidence = self.folder / "evidence"
        self.evidence.mkdir(parents=True, exist_ok=True)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def use_postgres(self) -> None:
        """Stacks started from now on run on the private PostgreSQL and Redis."""
        os.environ["DATABASE_URL"] = self.services.postgres.admin_url
        os.environ["PROIRP_TEST_POSTGRES_URL"] = self.services.postgres.admin_url
        os.environ["QUEUE_BACKEND"] = "redis"
        os.environ["REDIS_URL"] = self.services.redis.url

    def use_sqlite(self) -> None:
        """Stacks started from now on run on SQLite with the embedded queue."""
        os.environ.pop("DATABASE_URL", None)
        os.environ["QUEUE_BACKEND"] = "sqlite"

    @contextmanager
    def stack(
        self,
        name: str,
        *,
        api: int = 2,
        workers: int = 2,
        settings: dict[str, str] | None = None,
        sqlite: bool = False,
    ) -> Iterator[LiveStack]:
        """A live stack in the production shape: `api` `proirp serve` processes and `workers`
        `proirp worker` processes on PostgreSQL + Redis (or, with `sqlite`, one process with the
        embedded queue), against `proirp sandbox`. Its processes are `serve`, `serve-2`, ...,
        `worker`, `worker-2`, ...; `api_urls(live)` lists the API's addresses.

        When it ends, its database is dumped and its Redis keys and logs are kept in
        `evidence/<name>/` for the secrets area."""
        self.use_sqlite() if sqlite else self.use_postgres()
        folder = self.folder / "stacks" / name
        folder.mkdir(parents=True)
        merged = {"LOG_LEVEL": "INFO", **(settings or {})}
        with live_stack(folder, separate_worker=not sqlite, settings=merged) as live:
            extra = []
            try:
                if not sqlite:
                    for n in range(2, api + 1):
                        port = free_port()
                        live.start(
                            f"serve-{n}", "serve", "--port", str(port), "--no-embedded-worker"
                        )
                        extra.append(f"serve-{n}")
                        live.env[f"PROVE_API_{n}"] = f"http://127.0.0.1:{port}"
                    for n in range(2, workers + 1):
                        live.start(f"worker-{n}", "worker")
                        extra.append(f"worker-{n}")
                    for url in api_urls(live)[1:]:
                        live.wait_healthy(f"{url}/healthz")
                # SendGrid retries a refused event batch for 24 hours: the proof's stacks for
                # two minutes, longer than any fault it makes keeps the API from answering.
                live.configure_sendgrid(event_retry_seconds=EVENT_RETRY_SECONDS)
                yield live
            finally:
                for process in extra:
                    live.processes[process].stop()
                self._keep_evidence(name, live, sqlite=sqlite)

    def _keep_evidence(self, name: str, live: LiveStack, *, sqlite: bool) -> None:
        kept = self.evidence / name
        kept.mkdir(parents=True, exist_ok=True)
        url = make_url(live.database_url)
        if sqlite:
            for suffix in ("", "-wal"):
                source = Path(f"{url.database}{suffix}")
                if url.database and source.exists():
                    kept.joinpath(f"database.sqlite{suffix}").write_bytes(source.read_bytes())
        else:
            self.services.postgres.dump(url.database or "postgres", kept / "database.sql")
            with kept.joinpath("redis.txt").open("wb") as out:
                out.write(redis_contents(self.services.redis.url))
        for log in live.tmp.glob("*.log"):
            kept.joinpath(log.name).write_bytes(log.read_bytes())


def api_urls(live: LiveStack) -> list[str]:
    """The addresses of every API process of a stack started by `Run.stack`."""
    extra = sorted(key for key in live.env if key.startswith("PROVE_API_"))
    return [live.app_url, *(live.env[key] for key in extra)]


def redis_contents(url: str) -> bytes:
    """Every key of a Redis database and its value, uncompressed (DUMP's form may compress)."""
    client = redis.Redis.from_url(url)
    out: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values: Any = []
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"hash":
            values = client.hgetall(key).items()
        elif kind == b"set":
            values = client.smembers(key)
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        elif kind == b"stream":
            values = client.xrange(key)
        out.extend([repr(key), *(repr(value) for value in values)])
    return "\n".join(out).encode()
