"""Files the product writes (the SQLite database and its queue, the development key, the
sandbox's certificate) are its own user's alone: files 0600, folders 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
# What a process of the product leaves off everything it creates: nothing for group or others.
PRIVATE_UMASK = 0o077
# SQLite's companions of a database file; it gives them the database's mode when it makes them.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def restrict_umask() -> None:
    """Create everything this process writes private, whatever the library that writes it."""
    os.umask(PRIVATE_UMASK)


def private_directory(path: Path) -> Path:
    """`path` as a folder, each folder made for it 0700 (existing ones are left as they are:
    PROIRP_DATA_DIR may sit in a folder the product does not own)."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIRECTORY)
        except FileExistsError:
            continue  # another process made it first
        folder.chmod(PRIVATE_DIRECTORY)  # mkdir's mode passes through the umask
    return path


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(PRIVATE_FILE)
        except PermissionError:
            log.warning("files.not_private", path=str(path), mode=oct(mode))


def private_file(path: Path) -> Path:
    """`path` as an existing file, 0600: made empty if missing (so whatever writes it next
    writes into a private file), its mode narrowed if it was found open to others."""
    private_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        _tighten(path)
    else:
        os.close(descriptor)
    return path


def private_sqlite_file(path: Path) -> Path:
    """A SQLite database file and any companions it already has, private."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion)
    return path
