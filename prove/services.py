"""A PostgreSQL server and a Redis server of the proof's own, on free ports in a temporary folder,
so that restarting them mid-campaign disturbs nothing else on the machine.

PostgreSQL refuses to run as root: as root, its folder is given to the `postgres` user and its
commands run as that user (`runuser`), as Debian's own scripts do.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from tests.live import free_port


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise SystemExit(f"`make prove` needs PostgreSQL's {name} (apt-get install postgresql)")
    return on_path


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Postgres:
    folder: Path
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def libpq_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> None:
        command = [_postgres_bin("pg_ctl"), "-D", str(self.folder / "data"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=300"
        self._ctl("-o", options, "-l", str(self.folder / "postgres.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stopped at once, as a crash would (connections cut, no checkpoint), then started."""
        self.stop("immediate")
        time.sleep(down_for)
        self.start()

    def dump(self, database: str, to: Path) -> None:
        """A plain-SQL dump of one database (what a backup would hold)."""
        command = [_postgres_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port)]
        command += ["-U", "postgres", "-f", str(to), database]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603


@dataclass
class Redis:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        # As a production Redis keeps its queue: every write appended to a file, synced each second.
        command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"]
        command += ["--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")]
        self.process = subprocess.Popen(command)  # noqa: S603
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise SystemExit("the proof's Redis server did not start")

    def stop(self, *, crash: bool = False) -> None:
        """SIGTERM (Redis writes its file and exits) or, with `crash`, SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            if crash:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(30)

    def restart(self, *, down_for: float = 0.0, lose_data: bool = False) -> None:
        """Stopped and started again; with `lose_data`, killed and started with no file, so every
        key it held (the queue's waiting tasks among them) is gone."""
        self.stop(crash=lose_data)
        if lose_data:
            shutil.rmtree(self.folder / "appendonlydir", ignore_errors=True)
        time.sleep(down_for)
        self.start()


@dataclass
class Services:
    postgres: Postgres
    redis: Redis


@contextmanager
def private_services(folder: Path) -> Iterator[Services]:
    """Start a PostgreSQL cluster and a Redis server in `folder`; stop them after."""
    pg_folder = folder / "postgres"
    pg_folder.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(pg_folder, "postgres")
    initdb = [_postgres_bin("initdb"), "-D", str(pg_folder / "data"), "-A", "trust"]
    initdb += ["-U", "postgres", "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True)  # noqa: S603
    postgres = Postgres(pg_folder, free_port())
    redis_folder = folder / "redis"
    redis_folder.mkdir()
    redis_server = Redis(redis_folder, free_port())
    postgres.start()
    try:
        redis_server.start()
        try:
            yield Services(postgres, redis_server)
        finally:
            redis_server.stop()
    finally:
        postgres.stop()
