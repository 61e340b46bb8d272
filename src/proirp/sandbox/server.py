"""Run the provider sandbox on its own port."""

from __future__ import annotations

import uvicorn

from proirp.sandbox.app import SandboxConfig, create_sandbox_app


def run(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8099) -> None:
    """Serve the sandbox with uvicorn until interrupted (blocking).

    The access log is off: request lines carry phone numbers in list filters. Shutdown does not
    wait for answers held back by the timeout knob.
    """
    uvicorn.run(
        create_sandbox_app(config),
        host=host,
        port=port,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
