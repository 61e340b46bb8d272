"""Walk the audit chain with the chain keys, hold it to its anchors, and report what does not fit.

Rows are walked in the order of the chain (`seq`); rows appended but not chained yet (seconds
old at most while the chainer runs) are counted apart, not checked. Problems name rows by id
(anchors by the row's place in the chain, `seq`), keys by fingerprint and anchors by time: never
a row's content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.anchors import Anchor, AnchorStore, AnchorStoreError, AnchorStoreUnavailable
from proirp.audit.chain import canonical_of, row_hash
from proirp.audit.keys import ChainKeyring, current_chain_keyring
from proirp.audit.models import GENESIS_HASH, AuditLog

OUT_OF_ORDER = "does not follow the row before it (a row was removed, inserted or reordered)"
EDITED = "content does not match its hash (edited)"
_KEY_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    problem: str | None = None
    # The newest anchor the log was held to, if any.
    anchored_id: int | None = None
    anchored_at: datetime | None = None
    # Rows appended but not chained yet: not checked, and no problem by themselves.
    unchained: int = 0


class _Broken(Exception):
    def __init__(self, problem: str, row_id: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.row_id = problem, row_id


def verify_chain(
    session: Session,
    *,
    anchors: AnchorStore,
    keyring: ChainKeyring | None = None,
    batch_size: int = 1000,
) -> ChainReport:
    """Check every row in order (it follows the row before it, its hash is its content signed
    with a configured key, no older key than the row before it), then every anchor in `anchors`
    (its row is there with the anchored hash)."""
    keyring = keyring or current_chain_keyring()
    checked = 0
    newest: Anchor | None = None
    try:
        anchored = _authentic_anchors(anchors, keyring)
        newest = max(anchored.values(), key=lambda anchor: anchor.row_id, default=None)
        expected_prev, last_age, last_id = GENESIS_HASH, None, None
        rows = session.execute(
            select(AuditLog)
            .where(AuditLog.seq.is_not(None))
            .order_by(AuditLog.seq)
            .execution_options(yield_per=batch_size)
        ).scalars()
        for row in rows:
            last_age = _check_row(row, expected_prev, keyring, last_age)
            anchor = anchored.pop(row.seq or 0, None)
            if anchor is not None and anchor.row_hash != row.hash:
                raise _Broken(f"does not match its anchor of {_when(anchor)} (rewritten)", row.id)
            expected_prev, last_id = str(row.hash), row.seq
            checked += 1
        _check_nothing_anchored_is_missing(anchored, last_id)
    except _Broken as broken:
        return ChainReport(
            False, checked, broken.row_id, broken.problem, *_about(newest), _unchained(session)
        )
    return ChainReport(True, checked, None, None, *_about(newest), _unchained(session))


def _unchained(session: Session) -> int:
    return session.scalar(select(func.count()).where(AuditLog.seq.is_(None))) or 0


def _check_row(
    row: AuditLog, expected_prev: str, keyring: ChainKeyring, last_age: int | None
) -> int:
    """The age of the key that signed `row`, if `row` fits the chain; raises _Broken if not."""
    if row.prev_hash != expected_prev:
        raise _Broken(OUT_OF_ORDER, row.id)
    key_id = row.key_id or ""
    key, age = keyring.get(key_id), keyring.age(key_id)
    if key is None or age is None:
        shown = key_id if _KEY_ID.fullmatch(key_id) else "unreadable"
        raise _Broken(f"signed with a key that is not configured (key id {shown})", row.id)
    if last_age is not None and age > last_age:
        raise _Broken(
            f"signed with key {row.key_id}, older than the key of the row before it "
            "(a retired key was used after its successor)",
            row.id,
        )
    canonical = canonical_of(row)
    if row_hash(key, expected_prev, canonical) != row.hash:
        raise _Broken(EDITED, row.id)
    return age


def _authentic_anchors(store: AnchorStore, keyring: ChainKeyring) -> dict[int, Anchor]:
    """Every anchor by row id; raises _Broken for one that is damaged or not signed by a key."""
    anchored: dict[int, Anchor] = {}
    try:
        for where, anchor in store.read_all():
            if not anchor.is_authentic(keyring):
                raise _Broken(f"{where} is not signed by a configured chain key (forged)")
            earlier = anchored.setdefault(anchor.row_id, anchor)
            if earlier.row_hash != anchor.row_hash:
                raise _Broken(f"{where} anchors row {anchor.row_id} with another hash than before")
    except AnchorStoreError as exc:
        raise _Broken(f"{exc.where} is not an anchor (damaged)") from None
    except AnchorStoreUnavailable as exc:
        raise _Broken(f"the anchors in {exc.where} could not be read: {exc.reason}") from None
    return anchored


def _check_nothing_anchored_is_missing(unseen: dict[int, Anchor], last_id: int | None) -> None:
    if not unseen:
        return
    newest = unseen[max(unseen)]
    if last_id is None or newest.row_id > last_id:
        ends = "the log is empty" if last_id is None else f"the log ends at row {last_id}"
        raise _Broken(
            f"{ends}, but row {newest.row_id} was anchored at {_when(newest)}: "
            "rows were removed from the end (truncated)"
        )
    missing = unseen[min(unseen)]
    raise _Broken(f"row {missing.row_id}, anchored at {_when(missing)}, is missing", missing.row_id)


def _when(anchor: Anchor) -> str:
    return anchor.anchored_at.isoformat(timespec="seconds")


def _about(anchor: Anchor | None) -> tuple[int | None, datetime | None]:
    return (None, None) if anchor is None else (anchor.row_id, anchor.anchored_at)
