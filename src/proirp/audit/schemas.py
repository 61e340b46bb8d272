"""Response bodies for /audit-logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    hash: str
