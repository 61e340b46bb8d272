"""record_audit(): append an audit row in the caller's transaction, with no lock.

The row commits (or rolls back) with the change it records. It is chained afterwards: the chainer
(proirp.audit.chainer) gives it its place in the keyed chain and signs it, usually within a
fraction of a second. Appending takes no lock, so audited reads and writes never queue behind one
another for the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.models import AuditLog
from proirp.kit.metrics import count_audit_rows
from proirp.kit.origin import RequestOrigin as RequestOrigin  # where callers import it from
from proirp.kit.time import utcnow

# Keys that would carry PHI or secrets into the log: details describe an action, never content.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "body",
        "html",
        "text",
        "subject",
        "message",
        "password",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "code",
        "phone",
        "email",
        "to",
        "name",
        "first_name",
        "last_name",
        "date_of_birth",
        "dob",
        "address",
    }
)
MAX_DETAIL_STRING = 200


class AuditDetailsError(ValueError):
    """Audit details tried to hold something that must never be logged."""


def _check_details(details: dict[str, Any], path: str = "") -> None:
    for key, value in details.items():
        if key.lower() in FORBIDDEN_DETAIL_KEYS:
            raise AuditDetailsError(f"audit details may not hold '{path}{key}'")
        _check_value(value, f"{path}{key}")


def _check_value(value: Any, path: str) -> None:
    # Lists are walked too: a list of dicts could otherwise carry a phone or a body past the check.
    if isinstance(value, dict):
        _check_details(value, f"{path}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]")
    elif isinstance(value, str) and len(value) > MAX_DETAIL_STRING:
        raise AuditDetailsError(f"audit detail '{path}' is too long to be metadata")


@dataclass(frozen=True)
class AuditEntry:
    """One row for record_audits(): the same fields record_audit() takes."""

    actor: str | None
    action: AuditAction
    client_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] | None = None


def _checked(entry: AuditEntry) -> AuditEntry:
    if not isinstance(entry.action, AuditAction):
        # A bare string would slip a name past the published list (and past mypy, untyped).
        raise TypeError(f"audit action {entry.action!r} is not an AuditAction: add it there first")
    details = dict(entry.details or {})
    _check_details(details)
    user_agent = entry.user_agent[:300] if entry.user_agent else None
    return AuditEntry(entry.actor, entry.action, entry.client_id, entry.ip, user_agent, details)


def _unchained(entry: AuditEntry, created_at: datetime) -> dict[str, Any]:
    """The row's columns as appended: its content, not yet its place in the chain."""
    return {
        "created_at": created_at,
        "actor_user_id": entry.actor,
        "action": entry.action,
        "client_id": entry.client_id,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "details": entry.details or {},
    }


def record_audit(
    session: Session,
    *,
    actor: str | None,
    action: AuditAction,
    client_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    details: dict[str, Any] | None = None,
    origin: RequestOrigin | None = None,
) -> AuditLog:
    """Add an audit row to `session`'s transaction; it commits (or rolls back) with the change.

    `actor` is the acting user's id (None for the system or an unknown caller). `details` is
    metadata only: ids, counts, codes. Bodies, tokens, passwords and names are refused. `origin`,
    when given, supplies `ip` and `user_agent`.
    """
    if origin is not None:
        ip, user_agent = origin.ip, origin.user_agent
    entry = _checked(AuditEntry(actor, action, client_id, ip, user_agent, details))
    row = AuditLog(**_unchained(entry, utcnow()))
    session.add(row)
    session.flush()
    count_audit_rows(1)
    return row


def record_audits(session: Session, entries: Sequence[AuditEntry]) -> int:
    """Add several audit rows at once (a campaign's chunk, a batch of provider events) in one
    multi-row INSERT, in the order given. Every entry is checked before anything is written.
    Returns how many."""
    checked = [_checked(entry) for entry in entries]
    if not checked:
        return 0
    now = utcnow()
    rows = [_unchained(entry, now) for entry in checked]
    # One executemany, sent as multi-row INSERTs (SQLAlchemy's "insertmanyvalues", its statement
    # compiled once and cached): ids are taken in the order given, and the chainer chains the
    # rows in that order once this transaction commits.
    session.connection().execute(insert(AuditLog.__table__), rows)  # type: ignore[arg-type]
    count_audit_rows(len(rows))
    return len(rows)
