"""Refusing a provider webhook: one audit row, one log line, one answer, for every provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.kit.metrics import WebhookRefusal, count_webhook_rejection

log = structlog.get_logger(__name__)


def record_rejection(
    session: Session,
    origin: RequestOrigin,
    *,
    provider: str,
    hook: str,
    reason: str,
    refusal: WebhookRefusal,
    fields: Sequence[str] = (),
) -> None:
    """Audit, log and count what was refused of a webhook: the reason and the fields' names,
    never their values. `refusal` is the kind (a bad signature, content that does not fit), the
    only word of the reason that `proirp_webhook_rejections_total` carries."""
    details: dict[str, Any] = {"provider": provider, "hook": hook, "reason": reason}
    if fields:
        details["fields"] = list(fields)
    record_audit(
        session,
        actor=None,
        action=AuditAction.WEBHOOK_REJECTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
    )
    log.warning("webhook.rejected", provider=provider, hook=hook, reason=reason)
    count_webhook_rejection(provider=provider, hook=hook, reason=refusal)


def reject_webhook(
    session: Session,
    origin: RequestOrigin,
    *,
    provider: str,
    hook: str,
    reason: str,
    status: int = 403,
    message: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Audit and answer a webhook request that is not genuine (403) or not readable (400,
    naming the `fields` that are not).

    The caller returns the answer rather than raising, so the audit row commits.
    """
    refusal: WebhookRefusal = "bad_signature" if status == 403 else "malformed"
    record_rejection(
        session,
        origin,
        provider=provider,
        hook=hook,
        reason=reason,
        refusal=refusal,
        fields=list(fields or {}),
    )
    code = "bad_signature" if status == 403 else "bad_request"
    error: dict[str, Any] = {"code": code, "message": message or reason}
    if fields:
        error["fields"] = dict(fields)
    return JSONResponse({"ok": False, "error": error}, status_code=status)
