"""`proirp sandbox` beside `proirp serve`, as the README suggests: both processes read one `.env`
and run together; a port that something else holds stops either with one line naming the
setting to change."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from proirp.config import Settings
from tests.conftest import TEST_KEYS
from tests.live import BIN, Process, free_port, wait_until

# Settings that send a provider elsewhere than the sandbox, and would leave nothing to mount.
PROVIDER_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SENDGRID_API_KEY",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "MICROSOFT_CLIENT_ID",
    "MICROSOFT_CLIENT_SECRET",
    "PUBLIC_BASE_URL",
)


def installation(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A fresh installation in `tmp_path`: migrated SQLite and a `.env` with free ports and no
    provider credentials. The environment to run its commands in (`tmp_path`) with, and the
    settings its `.env` holds."""
    ports = ("PORT", "SANDBOX_PORT", "SANDBOX_TLS_PORT", "SERVE_SANDBOX_TLS_PORT")
    settings = {
        "PROIRP_ENCRYPTION_KEYS": ",".join(TEST_KEYS),
        "QUEUE_NAME": "proirp-side-by-side",
        "LOG_LEVEL": "WARNING",
        **{name: str(free_port()) for name in ports},
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    unset = {*PROVIDER_SETTINGS, *settings, "DATABASE_URL", "QUEUE_BACKEND", "PROIRP_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.pop("PYTEST_CURRENT_TEST", None)
    subprocess.run([str(BIN / "proirp"), "db", "upgrade"], env=env, cwd=tmp_path, check=True)  # noqa: S603
    return env, settings


def answers(url: str, *, ca: str | None = None) -> bool:
    verify = ssl.create_default_context(cafile=ca) if ca else True
    try:
        return httpx.get(url, timeout=1, verify=verify).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def running(tmp_path: Path, env: dict[str, str], command: str) -> Iterator[Process]:
    """`proirp <command>` started in `tmp_path`, where its `.env` is; stopped on exit."""
    log = tmp_path / f"{command}.log"
    process = Process(command, [str(BIN / "proirp"), command], env, log, cwd=tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_sandbox_and_serve_run_side_by_side_from_one_env(tmp_path: Path) -> None:
    env, settings = installation(tmp_path)
    sandbox = f"http://127.0.0.1:{settings['SANDBOX_PORT']}"
    app = f"http://127.0.0.1:{settings['PORT']}"
    ca = str(tmp_path / "var" / "sandbox-tls" / "ca.pem")
    with ExitStack() as stack:
        stack.enter_context(running(tmp_path, env, "sandbox"))
        assert wait_until(lambda: answers(sandbox + "/"), timeout=30), (
            tmp_path / "sandbox.log"
        ).read_text()
        serve = stack.enter_context(running(tmp_path, env, "serve"))
        assert wait_until(lambda: answers(app + "/healthz"), timeout=30), (
            tmp_path / "serve.log"
        ).read_text()
        assert serve.popen is not None and serve.popen.poll() is None
        # Each serves Microsoft's part over TLS on a port of its own, with one certificate.
        discovery = "microsoft/login/common/v2.0/.well-known/openid-configuration"
        standalone_tls = f"https://127.0.0.1:{settings['SANDBOX_TLS_PORT']}/"
        mounted_tls = f"https://127.0.0.1:{settings['SERVE_SANDBOX_TLS_PORT']}/sandbox/"
        assert answers(standalone_tls + discovery, ca=ca)
        assert answers(mounted_tls + discovery, ca=ca)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_the_two_tls_listeners_have_different_default_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SANDBOX_TLS_PORT", "SERVE_SANDBOX_TLS_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.sandbox_tls_port != settings.serve_sandbox_tls_port


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        ("serve", "PORT"),
        ("serve", "SERVE_SANDBOX_TLS_PORT"),
        ("sandbox", "SANDBOX_PORT"),
        ("sandbox", "SANDBOX_TLS_PORT"),
    ],
)
def test_a_port_held_by_something_else_is_one_line_naming_the_setting(
    tmp_path: Path, command: str, setting: str
) -> None:
    env, settings = installation(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(settings[setting])))
        holder.listen()
        finished = subprocess.run(  # noqa: S603
            [str(BIN / "proirp"), command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert finished.returncode == 1
    output = finished.stdout + finished.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("proirp:")]
    assert len(errors) == 1, output
    assert setting in errors[0] and settings[setting] in errors[0], output
    assert "Errno" not in output  # not uvicorn's own message: ours, naming what to change
