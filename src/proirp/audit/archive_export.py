"""`proirp audit export`: the rows of a period as a sealed archive, to a file or to the bucket,
and the export recorded in the audit log."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.archive import Seal, export_archive
from proirp.audit.archive_s3 import store_archive
from proirp.audit.keys import current_chain_keyring
from proirp.audit.service import record_audit
from proirp.config import Settings
from proirp.kit.db import transaction


@dataclass(frozen=True)
class Exported:
    seal: Seal
    where: str  # the file, or s3://bucket/key


def export_to_file(
    factory: sessionmaker[Session], out: Path, *, since: datetime, until: datetime
) -> Exported:
    """Write the archive to `out` (readable by its owner only), whole or not at all: it is
    written beside `out` and renamed into place. Refuses to write over a file."""
    if out.exists():
        raise FileExistsError(f"{out} exists already: an archive is never written over")
    fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle, transaction(factory) as session:
            seal = export_archive(
                session, handle, keyring=current_chain_keyring(), since=since, until=until
            )
            handle.flush()
            os.fsync(handle.fileno())
            _record(session, seal, "file")
            # link(), unlike rename(), refuses a file that appeared meanwhile.
            os.link(partial, out)
    finally:
        os.unlink(partial)
    return Exported(seal, str(out))


def export_to_s3(
    settings: Settings, factory: sessionmaker[Session], *, since: datetime, until: datetime
) -> Exported:
    """Write the archive to the bucket, locked for the retention the settings give."""
    with tempfile.TemporaryFile() as handle, transaction(factory) as session:
        seal = export_archive(
            session, handle, keyring=current_chain_keyring(), since=since, until=until
        )
        key = store_archive(settings, handle, seal)
        _record(session, seal, "s3")
    return Exported(seal, f"s3://{settings.audit_anchor_s3_bucket}/{key}")


def _record(session: Session, seal: Seal, destination: str) -> None:
    record_audit(
        session,
        actor=None,
        action=AuditAction.AUDIT_ARCHIVE_EXPORTED,
        details={
            "destination": destination,
            "first_id": seal.first_id,
            "last_id": seal.last_id,
            "rows": seal.rows,
            "since": seal.since.isoformat(),
            "until": seal.until.isoformat(),
        },
    )
