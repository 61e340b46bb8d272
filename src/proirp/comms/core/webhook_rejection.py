"""Refusing a provider webhook: one audit row, one log line, one answer, for every provider."""

from __future__ import annotations

import structlog
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit

log = structlog.get_logger(__name__)


def reject_webhook(
    session: Session,
    origin: RequestOrigin,
    *,
    provider: str,
    hook: str,
    reason: str,
    status: int = 403,
    message: str | None = None,
) -> JSONResponse:
    """Audit and answer a webhook request that is not genuine (403) or not readable (400).

    The caller returns the answer rather than raising, so the audit row commits.
    """
    record_audit(
        session,
        actor=None,
        action=AuditAction.WEBHOOK_REJECTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"provider": provider, "hook": hook, "reason": reason},
    )
    log.warning("webhook.rejected", provider=provider, hook=hook, reason=reason)
    code = "bad_signature" if status == 403 else "bad_request"
    body = {"ok": False, "error": {"code": code, "message": message or reason}}
    return JSONResponse(body, status_code=status)
