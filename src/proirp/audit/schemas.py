"""Response bodies for /audit-logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AuditLogOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_user_id: str | None
    action: str
    client_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
    # Null for the moment (a fraction of a second, usually) between the row being written and
    # the chainer signing it into the chain.
    hash: str | None


AUDIT_LOG_EXAMPLE: dict[str, Any] = {
    "id": 1042,
    "created_at": "2030-01-15T15:00:00Z",
    "actor_user_id": "5f0c2a9e8b7d4e6fa1c3b5d7e9f1a2b4",
    "action": "CLIENT_VIEWED",
    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
    "ip": "192.0.2.10",
    "user_agent": "Mozilla/5.0",
    "details": {},
    "hash": "9b1f0e6c3a5d7e2f4b8c1a9d0e3f6a2b7c4d5e8f1a0b3c6d9e2f5a8b1c4d7e0f",
}


class AuditLogList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ok": True, "audit_logs": [AUDIT_LOG_EXAMPLE], "next_cursor": None}]
        }
    )

    ok: Literal[True]
    audit_logs: list[AuditLogOut]
    next_cursor: str | None


class ChainReportOut(BaseModel):
    """The result of walking the audit chain and holding it to its anchors; `intact` is false
    from the first bad row, or when anchored rows are missing (`first_bad_id` then null)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "intact": True,
                    "rows_checked": 1042,
                    "first_bad_id": None,
                    "problem": None,
                    "anchored_id": 1040,
                    "anchored_at": "2030-01-15T14:55:00Z",
                    "unchained": 0,
                }
            ]
        }
    )

    ok: Literal[True]
    intact: bool
    rows_checked: int
    first_bad_id: int | None
    problem: str | None
    # The newest anchor of the log's head the chain was held to (None before the first).
    anchored_id: int | None
    anchored_at: datetime | None
    # Rows written but not yet signed into the chain by the chainer (seconds old at most while
    # a worker runs): not checked yet, and not a problem by themselves.
    unchained: int
