"""The Huey instance. Tasks register on it at import; its storage is chosen by QUEUE_BACKEND."""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.storage import MemoryStorage, PostgresStorage, RedisStorage, SqliteStorage
from sqlalchemy.engine import make_url

from proirp.config import Settings
from proirp.kit.files import private_sqlite_file

# Storage is a placeholder until configure_queue() runs at start-up.
huey = Huey("proirp", storage_class=MemoryStorage, results=False, utc=True)


def _storage_for(settings: Settings) -> tuple[type[Any], dict[str, Any]]:
    if settings.queue_backend == "redis":
        return RedisStorage, {"url": settings.redis_url}
    if settings.queue_backend == "postgres":
        url = make_url(settings.sqlalchemy_url).set(drivername="postgresql")
        return PostgresStorage, {"dsn": url.render_as_string(hide_password=False)}
    filename = private_sqlite_file(settings.proirp_data_dir / "queue.db")
    return SqliteStorage, {"filename": str(filename)}


def configure_queue(settings: Settings) -> Huey:
    """Point the shared Huey instance at the storage `settings` choose."""
    storage_class, kwargs = _storage_for(settings)
    huey.name = settings.queue_name
    huey.storage_class = storage_class
    huey.storage_kwargs = kwargs
    huey.storage = huey.create_storage()
    return huey


def queue_is_reachable() -> bool:
    """True when the queue's storage answers (used by /healthz)."""
    try:
        huey.storage.queue_size()
    except Exception:  # any storage failure means "not reachable"
        return False
    return True
