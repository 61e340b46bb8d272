"""Everything the product writes under PROIRP_DATA_DIR is its own user's alone: files 0600,
folders 0700 (the database holds PHI; the key decrypts it). Checked by running the real
commands, as an operator would, with the usual umask of 0022."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import httpx

from tests.live import BIN, free_port, wait_until


def _env(data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PROIRP_ENV": "development",  # makes its own encryption key in the data directory
        "PROIRP_DATA_DIR": str(data),
        "QUEUE_BACKEND": "sqlite",
        "QUEUE_NAME": "proirp-file-modes-test",
        "SANDBOX_TLS_PORT": str(free_port()),
    }
    for name in ("DATABASE_URL", "PROIRP_ENCRYPTION_KEYS", "MICROSOFT_CA_BUNDLE"):
        env.pop(name, None)
    return env


def _usual_umask() -> None:
    os.umask(0o022)


def _modes(data: Path) -> dict[str, str]:
    """Every path under `data` (and `data` itself) that is not private, with its mode."""
    found = {}
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            found[str(path.relative_to(data.parent))] = oct(mode)
    return found


def test_the_database_queue_key_and_certificates_are_private(tmp_path: Path) -> None:
    data = tmp_path / "var" / "proirp"  # neither exists yet: the product makes both
    env = _env(data)
    proirp = str(BIN / "proirp")
    subprocess.run(  # noqa: S603 (our own console script)
        [proirp, "db", "upgrade"], env=env, check=True, cwd=tmp_path, preexec_fn=_usual_umask
    )
    assert (data / "proirp.db").is_file()
    assert _modes(data) == {}
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [proirp, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_usual_umask,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(healthy, timeout=30, interval=0.2), (tmp_path / "serve.log").read_text()
        written = {p.name for p in data.rglob("*")}
        assert {"proirp.db", "queue.db", "encryption.key", "sandbox-tls", "ca.pem"} <= written
        assert any(name.endswith("-wal") for name in written), written
        assert _modes(data) == {}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert _modes(data) == {}


def test_an_open_database_left_by_an_earlier_version_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "proirp.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    subprocess.run(  # noqa: S603
        [str(BIN / "proirp"), "db", "upgrade"],
        env=_env(data),
        check=True,
        cwd=tmp_path,
        preexec_fn=_usual_umask,
    )
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
