"""The keyed chain: each row's hash is an HMAC, under a chain key, of the previous row's hash and
the row's own content; without the key nobody can recompute it after changing a row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from proirp.audit.keys import ChainKey


def canonical_row(
    *,
    created_at: datetime,
    actor_user_id: str | None,
    action: str,
    client_id: str | None,
    ip: str | None,
    user_agent: str | None,
    details: dict[str, Any],
) -> str:
    """The row as one deterministic string; any change to a field changes it."""
    return json.dumps(
        {
            "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_user_id": actor_user_id,
            "action": action,
            "client_id": client_id,
            "ip": ip,
            "user_agent": user_agent,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def canonical_of(row: Any) -> str:
    """`canonical_row` of a stored row (an AuditLog, or a result row with the same fields)."""
    return canonical_row(
        created_at=row.created_at,
        actor_user_id=row.actor_user_id,
        action=row.action,
        client_id=row.client_id,
        ip=row.ip,
        user_agent=row.user_agent,
        details=row.details,
    )


def row_hash(key: ChainKey, prev_hash: str, canonical: str) -> str:
    """The row's hash: HMAC-SHA256 under `key` of the hash before it and its canonical content."""
    return key.sign(f"proirp audit row\n{prev_hash}\n{canonical}")
