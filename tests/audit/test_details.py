"""record_audit() keeps PHI and secrets out of the log: details are metadata, never content."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import anchor_store
from proirp.audit.models import AuditLog
from proirp.audit.service import (
    FORBIDDEN_DETAIL_KEYS,
    MAX_DETAIL_STRING,
    AuditDetailsError,
    record_audit,
)
from proirp.audit.verify import verify_chain
from proirp.config import Settings

SECRET = "Avery Quinn +12025550143"


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(AuditLog)) or 0


def _refuse(db: Session, details: dict[str, Any], *, naming: str) -> None:
    before = _count(db)
    with pytest.raises(AuditDetailsError) as refused:
        record_audit(db, actor=None, action=AuditAction.CLIENT_UPDATED, details=details)
    message = str(refused.value)
    assert naming in message
    assert SECRET not in message and "x" * 50 not in message, "the error must not echo the value"
    assert _count(db) == before, "a refused audit row must not be written"


@pytest.mark.parametrize("key", sorted(FORBIDDEN_DETAIL_KEYS))
def test_every_forbidden_key_is_refused(db: Session, key: str) -> None:
    _refuse(db, {key: SECRET}, naming=key)


@pytest.mark.parametrize("key", ["body", "password", "token", "phone", "first_name", "dob"])
def test_the_canonical_keys_stay_forbidden(key: str) -> None:
    # Guards against someone trimming the list: these are what the design names explicitly.
    assert key in FORBIDDEN_DETAIL_KEYS


@pytest.mark.parametrize("key", ["Password", "PHONE", "Last_Name"])
def test_keys_are_matched_without_regard_to_case(db: Session, key: str) -> None:
    _refuse(db, {key: SECRET}, naming=key)


def test_forbidden_keys_are_found_in_nested_objects(db: Session) -> None:
    _refuse(db, {"changes": {"contact": {"email": SECRET}}}, naming="changes.contact.email")


def test_forbidden_keys_are_found_inside_lists(db: Session) -> None:
    _refuse(db, {"recipients": [{"id": "c1"}, {"id": "c2", "phone": SECRET}]}, naming="phone")
    _refuse(db, {"batches": [[{"body": SECRET}]]}, naming="body")


def test_over_long_strings_are_refused_wherever_they_are(db: Session) -> None:
    too_long = "x" * (MAX_DETAIL_STRING + 1)
    _refuse(db, {"note": too_long}, naming="note")
    _refuse(db, {"outer": {"note": too_long}}, naming="outer.note")
    _refuse(db, {"notes": ["short", too_long]}, naming="notes")
    _refuse(db, {"items": [{"note": too_long}]}, naming="note")


def test_metadata_is_accepted_and_verifies(db: Session, settings: Settings) -> None:
    details = {
        "client_ids": ["a" * 32, "b" * 32],
        "counts": {"sent": 3, "failed": 0},
        "reason": "x" * MAX_DETAIL_STRING,
        "searched": True,
        "template_id": None,
    }

    row = record_audit(
        db, actor=None, action=AuditAction.CLIENTS_LISTED, details=details, user_agent="u" * 500
    )

    db.expire_all()
    stored = db.get(AuditLog, row.id)
    assert stored is not None
    assert stored.details == details
    assert stored.user_agent == "u" * 300, "user agents are cut to the column's length"
    assert verify_chain(db, anchors=anchor_store(settings)).ok


def test_details_are_copied_so_the_caller_cannot_change_a_hashed_row(
    db: Session, settings: Settings
) -> None:
    details: dict[str, Any] = {"count": 1}
    row = record_audit(db, actor=None, action=AuditAction.CLIENT_UPDATED, details=details)
    details["count"] = 2
    details["password"] = SECRET

    assert row.details == {"count": 1}
    assert verify_chain(db, anchors=anchor_store(settings)).ok
