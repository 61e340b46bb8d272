"""Anchors: the audit log's head (its newest chained row and hash), signed and kept outside the
database. An anchor names a row by its place in the chain (`seq`), which for rows chained before
`seq` existed is their id.

The keyed chain stops anyone without the key from rewriting rows; it cannot show that the newest
rows were removed. An anchor can: verification fails when an anchored row is missing or differs.
Where anchors are kept is behind `AnchorStore` (an append-only file today).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.engine import Engine

from proirp.audit.keys import ChainKey, ChainKeyring
from proirp.audit.repository import read_head
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Anchor:
    """The row at place `row_id` in the chain had hash `row_hash` at `anchored_at`; `mac` signs
    all of it."""

    row_id: int
    row_hash: str
    anchored_at: datetime
    key_id: str
    mac: str

    @classmethod
    def signed(cls, key: ChainKey, *, row_id: int, row_hash: str, at: datetime) -> Anchor:
        unsigned = cls(row_id, row_hash, at, key.key_id, "")
        return cls(row_id, row_hash, at, key.key_id, key.sign(unsigned.message()))

    def message(self) -> str:
        at = self.anchored_at.isoformat(timespec="microseconds")
        return f"proirp audit anchor\n{self.row_id}\n{self.row_hash}\n{at}\n{self.key_id}"

    def is_authentic(self, keyring: ChainKeyring) -> bool:
        key = keyring.get(self.key_id)
        return key is not None and key.signed(self.message(), self.mac)


class AnchorStoreError(Exception):
    """What the store holds at `where` is not an anchor (damaged, or written by something else)."""

    def __init__(self, where: str) -> None:
        super().__init__(f"{where} is not an anchor")
        self.where = where


class AnchorStoreUnavailable(Exception):
    """The store at `where` could not be read or written (unreachable, refused): `reason` says
    why, in words that hold no secret."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


class AnchorStore(Protocol):
    """Somewhere anchors are appended and never changed."""

    def append(self, anchor: Anchor) -> None:
        """Add `anchor` durably after every earlier one."""

    def latest(self) -> Anchor | None:
        """The anchor appended last, or None before the first."""

    def read_all(self) -> Iterator[tuple[str, Anchor]]:
        """Every anchor, with where it is kept (for messages); raises AnchorStoreError at the
        first entry that is not an anchor, AnchorStoreUnavailable if the store cannot be read."""


def anchor_head(
    engine: Engine,
    store: AnchorStore,
    key: ChainKey,
    *,
    unless_anchored_within: timedelta | None = None,
) -> Anchor | None:
    """Append the log's head to `store`, signed with `key`; returns it, or None when there was
    nothing new to anchor (an empty log, the head already anchored, or anchored too recently)."""
    head = read_head(engine)
    if head is None:
        return None
    last = store.latest()
    if last is not None:
        if last.row_id > head.row_id:
            # Anchoring this head would hide the gap from nobody; say it loudly instead.
            log.error("audit.head_behind_anchor", head_id=head.row_id, anchored_id=last.row_id)
            return None
        if last.row_id == head.row_id:
            return None
        if unless_anchored_within and utcnow() - last.anchored_at < unless_anchored_within:
            return None
    anchor = Anchor.signed(key, row_id=head.row_id, row_hash=head.row_hash, at=utcnow())
    store.append(anchor)
    log.info("audit.head_anchored", row_id=anchor.row_id, key_id=anchor.key_id)
    return anchor
