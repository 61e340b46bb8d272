"""record_audit(): write an audit row in the caller's transaction, extending the keyed chain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.chain import canonical_row, row_hash
from proirp.audit.keys import current_chain_keyring
from proirp.audit.models import GENESIS_HASH, AuditLog
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

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 0x50524F495250  # "PROIRP"


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


def lock_audit_chain(session: Session) -> None:
    """Serialise chain writers until this transaction ends, so two writers cannot share a parent.

    `record_audit` takes it itself. A transaction that changes several rows others may also be
    changing, and audits each change, takes it first: the order is then always chain → rows,
    and two such transactions cannot deadlock on PostgreSQL (one holding a row the other needs
    while waiting for the chain). SQLite's BEGIN IMMEDIATE gives the same order by itself.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    # SQLite: every transaction begins IMMEDIATE (kit.db), which already holds the write lock.


def record_audit(
    session: Session,
    *,
    actor: str | None,
    action: AuditAction,
    client_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row to `session`'s transaction; it commits (or rolls back) with the change.

    `actor` is the acting user's id (None for the system or an unknown caller). `details` is
    metadata only: ids, counts, codes. Bodies, tokens, passwords and names are refused.
    """
    if not isinstance(action, AuditAction):
        # A bare string would slip a name past the published list (and past mypy, untyped).
        raise TypeError(f"audit action {action!r} is not an AuditAction: add it there first")
    details = dict(details or {})
    _check_details(details)
    key = current_chain_keyring().current
    lock_audit_chain(session)
    prev_hash = session.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
    prev_hash = prev_hash or GENESIS_HASH
    created_at = utcnow()
    user_agent = user_agent[:300] if user_agent else None
    canonical = canonical_row(
        created_at=created_at,
        actor_user_id=actor,
        action=action,
        client_id=client_id,
        ip=ip,
        user_agent=user_agent,
        details=details,
    )
    row = AuditLog(
        created_at=created_at,
        actor_user_id=actor,
        action=action,
        client_id=client_id,
        ip=ip,
        user_agent=user_agent,
        details=details,
        key_id=key.key_id,
        prev_hash=prev_hash,
        hash=row_hash(key, prev_hash, canonical),
    )
    session.add(row)
    session.flush()
    return row
