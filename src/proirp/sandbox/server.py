"""Run the provider sandbox on its own port, and on a TLS port for Microsoft's part.

msal only speaks to https:// authorities, so `run(..., tls_port=…)` serves one app (one state)
on two listeners in one process and event loop: plain HTTP for Twilio, SendGrid, Google and the
consent page, TLS (with the certificate from proirp.sandbox.tls) for msal and Graph. The
product's `proirp serve` can do the same for its mounted sandbox with `tls_server_config` and
`serve_all`, each listener named by the setting that chose its port:

    certificate = ensure_certificate(settings.sandbox_tls_directory)
    serve_all([
        Listener(uvicorn.Config(app, host=host, port=port), "PORT"),
        Listener(tls_server_config(app, host=host, port=tls_port, certificate=certificate),
                 "SERVE_SANDBOX_TLS_PORT"),
    ])

A port that cannot be bound raises PortUnavailable, which says which setting to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.config import LOGGING_CONFIG

from proirp.sandbox.app import SandboxConfig, create_sandbox_app
from proirp.sandbox.tls import SandboxCertificate, ensure_certificate

GRACEFUL_SHUTDOWN_SECONDS = 2
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
uvicorn_log = logging.getLogger("uvicorn.error")


@dataclasses.dataclass(frozen=True)
class Listener:
    """One uvicorn server, and the setting (or option) that chose its port."""

    config: uvicorn.Config
    setting: str


class PortUnavailable(Exception):
    """A listener's address could not be bound; the message names the setting to change."""

    def __init__(self, listener: Listener, reason: str) -> None:
        config = listener.config
        super().__init__(
            f"cannot listen on {config.host}:{config.port} ({reason}): "
            f"set {listener.setting} to a free port"
        )


def bind(listener: Listener) -> socket.socket:
    """The listener's socket, bound as uvicorn binds it (uvicorn's own bind_socket exits the
    process with a message that names no setting)."""
    config = listener.config
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
        port = sock.getsockname()[1]
    except OSError as exc:
        sock.close()
        raise PortUnavailable(listener, (exc.strerror or type(exc).__name__).lower()) from None
    sock.set_inheritable(True)
    # What uvicorn says when it binds for itself (it does not, given the socket).
    scheme = "https" if config.is_ssl else "http"
    address = f"[{config.host}]" if family == socket.AF_INET6 else config.host
    uvicorn_log.info("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", scheme, address, port)
    return sock


def run(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8099,
    tls_port: int | None = None,
    tls_directory: Path | None = None,
    port_setting: str = "SANDBOX_PORT (or --port)",
    tls_port_setting: str = "SANDBOX_TLS_PORT (or --tls-port)",
) -> None:
    """Serve the sandbox with uvicorn until interrupted (blocking).

    With `tls_port`, the same app is also served over TLS there, with the certificate kept in
    `tls_directory` (made on first use); the consent page is then this process's plain listener,
    so a browser never meets the self-signed certificate. The access log is off: request lines
    carry phone numbers in list filters. Shutdown does not wait for answers held back by the
    timeout knob. A port that cannot be bound raises PortUnavailable naming `port_setting` or
    `tls_port_setting`.
    """
    certificate = None
    if tls_port is not None:
        if tls_directory is None:
            raise ValueError("tls_port needs tls_directory (where the certificate is kept)")
        certificate = ensure_certificate(tls_directory)
        public = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        if ":" in public:
            public = f"[{public}]"
        config = dataclasses.replace(
            config,
            microsoft_consent_base=f"http://{public}:{port}",
            tls_port=tls_port,
            tls_ca_path=str(certificate.ca_path.resolve()),
        )
    app = create_sandbox_app(config)
    plain = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        proxy_headers=False,  # the sandbox stands behind no proxy: no X-Forwarded-For
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    listeners = [Listener(plain, port_setting)]
    if tls_port is not None:
        assert certificate is not None
        tls = tls_server_config(app, host=host, port=tls_port, certificate=certificate)
        listeners.append(Listener(tls, tls_port_setting))
    serve_all(listeners)


def tls_server_config(
    app: ASGIApp | FastAPI,
    *,
    host: str,
    port: int,
    certificate: SandboxCertificate,
    log_config: dict[str, Any] | None = LOGGING_CONFIG,
) -> uvicorn.Config:
    """A uvicorn listener serving `app` over TLS with the sandbox's certificate.

    Its lifespan is off: it is a second listener for an app whose first listener runs the
    lifespan (starting and closing the app once, not once per listener). `log_config` as for
    uvicorn.Config: None leaves logging as the caller set it up.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certificate.cert_path),
        ssl_keyfile=str(certificate.key_path),
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        log_config=log_config,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


class _SharedSignals(uvicorn.Server):
    """A uvicorn server that leaves signals to serve_all, which stops every listener at once
    (each uvicorn.Server would otherwise take SIGINT for itself, the last one winning)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_all(listeners: list[Listener]) -> None:
    """Run several uvicorn servers together in one event loop until Ctrl-C or SIGTERM, which
    stops all of them gracefully (a second Ctrl-C stops them at once); blocking.

    Every listening socket is bound before any server starts, so a port in use fails the whole
    start (PortUnavailable, naming the listener's setting) instead of leaving the others
    running alone. The first config's event loop setting is used. If one server stops on its
    own, the others stop too.
    """
    if not listeners:
        raise ValueError("serve_all needs at least one listener")
    configs = [listener.config for listener in listeners]
    sockets: list[socket.socket] = []
    try:
        for listener in listeners:
            sockets.append(bind(listener))
    except PortUnavailable:
        for sock in sockets:
            sock.close()
        raise
    servers = [_SharedSignals(config) for config in configs]

    def stop(signum: int, frame: FrameType | None) -> None:
        for server in servers:
            server.handle_exit(signum, frame)

    async def serve() -> None:
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(servers, sockets, strict=True)
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for server in servers:
                server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)

    # Signals can only be handled on the main thread; elsewhere the caller stops the process.
    on_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in HANDLED_SIGNALS} if on_main else {}
    try:
        with asyncio.Runner(loop_factory=configs[0].get_loop_factory()) as runner:
            runner.run(serve())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in sockets:
            sock.close()
