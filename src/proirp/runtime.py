"""Start-up shared by the web app, the worker and the CLI: logging, vault, database, queue, jobs.

The top of the layers: it alone imports every domain's jobs, so that the queue knows them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.keys import build_chain_keyring, install_chain_keyring
from proirp.config import Settings
from proirp.kit.crypto import Vault, install_vault, load_or_create_dev_key
from proirp.kit.db import create_db_engine, create_session_factory
from proirp.kit.logging import configure_logging
from proirp.worker import jobs
from proirp.worker.queue import configure_queue

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]


_current: Runtime | None = None


def build_vault(settings: Settings) -> Vault:
    keys = [key.get_secret_value() for key in settings.proirp_encryption_keys]
    if not keys:
        # Development only (settings refuse production without keys).
        keys = [load_or_create_dev_key(settings.proirp_data_dir / "encryption.key")]
    return Vault(keys)


def start(settings: Settings) -> Runtime:
    """Install everything process-wide that `settings` decide, once per process."""
    global _current
    configure_logging(level=settings.log_level, json=settings.logs_as_json)
    install_vault(build_vault(settings))
    install_chain_keyring(build_chain_keyring(settings))
    engine = create_db_engine(settings.sqlalchemy_url)
    configure_queue(settings)
    _current = Runtime(settings, engine, create_session_factory(engine))
    # Every table must be known before the first flush (foreign keys resolve across domains),
    # and every job must be registered before the queue is given them.
    import proirp.appointments.tasks
    import proirp.audit.tasks
    import proirp.auth.tasks
    import proirp.calendars.tasks
    import proirp.comms.campaigns.tasks
    import proirp.comms.email.tasks
    import proirp.comms.inbox.tasks
    import proirp.comms.request_keys
    import proirp.comms.sms.tasks
    import proirp.comms.tasks
    import proirp.models
    import proirp.notices.tasks  # noqa: F401

    jobs.install(jobs.JobContext(settings, _current.session_factory))
    return _current


def stop(rt: Runtime) -> None:
    """What `proirp serve` and `proirp worker` do last: anchor the audit log's head (so rows
    removed after the last periodic anchor are noticed too), then let go of the database."""
    from proirp.audit.tasks import anchor_head_now

    try:
        anchor_head_now(rt.settings, rt.engine)
    except Exception as exc:  # stopping must go on; the next start or the worker anchors later
        log.error("audit.anchor_failed", error=type(exc).__name__)
    rt.engine.dispose()


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("proirp.runtime.start() has not run in this process")
    return _current
