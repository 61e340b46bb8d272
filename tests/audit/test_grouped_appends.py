"""record_audits(): many rows under one lock acquisition, the same chain as one by one."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.models import AuditLog
from proirp.audit.service import AuditDetailsError, AuditEntry, record_audit, record_audits
from proirp.audit.verify import verify_chain


def _count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(AuditLog)) or 0)


def test_grouped_rows_extend_the_chain_in_order_and_verify(db: Session, tmp_path: Path) -> None:
    before = _count(db)
    record_audit(db, actor=None, action=AuditAction.CLIENT_VIEWED, details={"i": -1})
    entries = [AuditEntry(None, AuditAction.CLIENT_VIEWED, details={"i": i}) for i in range(1200)]
    assert record_audits(db, entries) == 1200
    record_audit(db, actor=None, action=AuditAction.CLIENT_VIEWED, details={"i": 1200})
    rows = db.scalars(select(AuditLog).order_by(AuditLog.id).offset(before)).all()
    assert [row.details["i"] for row in rows] == list(range(-1, 1201))
    for earlier, later in pairwise(rows):
        assert later.prev_hash == earlier.hash
    report = verify_chain(db, anchors=FileAnchorStore(tmp_path / "anchors"))
    assert report.ok, report


def test_a_bad_entry_writes_nothing(db: Session) -> None:
    before = _count(db)
    entries = [
        AuditEntry(None, AuditAction.CLIENT_VIEWED, details={"i": 1}),
        AuditEntry(None, AuditAction.CLIENT_VIEWED, details={"phone": "+12025550143"}),
    ]
    with pytest.raises(AuditDetailsError):
        record_audits(db, entries)
    assert _count(db) == before
    assert record_audits(db, []) == 0
