"""The hash chain: each row's hash covers the previous row's hash and the row's own content."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


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


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
