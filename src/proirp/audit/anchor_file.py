"""The anchor file: one signed JSON line per anchor, only ever appended, readable by its owner only.

It lives outside the database (AUDIT_ANCHOR_PATH, or <PROIRP_DATA_DIR>/audit/anchors), so that
someone who can write to the database cannot also take back what was anchored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from proirp.audit.anchor_s3 import with_s3
from proirp.audit.anchors import Anchor, AnchorStore, AnchorStoreError
from proirp.config import Settings

# Enough for the last line: an anchor is about 230 bytes.
_TAIL_BYTES = 4096


class FileAnchorStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, anchor: Anchor) -> None:
        if not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True)
        line = (_to_json(anchor) + "\n").encode()
        # O_APPEND: every write lands at the end, whoever else (another process) appends too.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def latest(self) -> Anchor | None:
        if not self.path.exists():
            return None
        with self.path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            lines = handle.read().splitlines()
        if not lines:
            return None
        return _from_json(lines[-1].decode(errors="replace"), f"the last line of {self.path}")

    def read_all(self) -> Iterator[tuple[str, Anchor]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                where = f"line {number} of {self.path}"
                yield where, _from_json(line, where)


def anchor_store(settings: Settings) -> AnchorStore:
    """Where `settings` say the audit log's head is anchored: the file, and the S3 bucket too
    when AUDIT_ANCHOR_S3_BUCKET is set."""
    return with_s3(FileAnchorStore(settings.audit_anchor_file), settings)


def _to_json(anchor: Anchor) -> str:
    return json.dumps(
        {
            "row_id": anchor.row_id,
            "row_hash": anchor.row_hash,
            "anchored_at": anchor.anchored_at.isoformat(timespec="microseconds"),
            "key_id": anchor.key_id,
            "mac": anchor.mac,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _from_json(line: str, where: str) -> Anchor:
    try:
        fields = json.loads(line)
        anchor = Anchor(
            row_id=fields["row_id"],
            row_hash=fields["row_hash"],
            anchored_at=datetime.fromisoformat(fields["anchored_at"]),
            key_id=fields["key_id"],
            mac=fields["mac"],
        )
    except (ValueError, KeyError, TypeError):
        raise AnchorStoreError(where) from None
    types_ok = isinstance(anchor.row_id, int) and all(
        isinstance(value, str) for value in (anchor.row_hash, anchor.key_id, anchor.mac)
    )
    if not types_ok or anchor.anchored_at.tzinfo is None:
        raise AnchorStoreError(where)
    return anchor
