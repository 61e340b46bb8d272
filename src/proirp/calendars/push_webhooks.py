"""Push notifications from Google Calendar and Microsoft Graph: no session, but each is checked
against the channel it names (Google's channel token, Graph's clientState, compared in constant
time). A genuine one asks for a sync of its calendar (push_intake.py) and is answered at once:
the sync runs in the worker, never here. Refusals name what is wrong and are audited; nothing of
the token, the secret or the event reaches a log.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.calendars.models import CalendarPushChannel
from proirp.calendars.push import (
    GOOGLE_PATH,
    MICROSOFT_LIFECYCLE_PATH,
    MICROSOFT_PATH,
    secret_matches,
)
from proirp.calendars.push_intake import newer_message, request_sync
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.metrics import WebhookRefusal, count_webhook_rejection
from proirp.worker.after_commit import enqueue_after_commit

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"], include_in_schema=False)
MAX_VALIDATION_TOKEN = 1024
# Google's states: `sync` opens a channel (nothing to do); `exists` and `not_exists` say the
# calendar changed.
GOOGLE_STATES = frozenset({"sync", "exists", "not_exists"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


def _refuse(
    session: Session,
    origin: RequestOrigin,
    provider: str,
    hook: str,
    *,
    status: int,
    message: str,
    fields: dict[str, str] | None = None,
) -> JSONResponse:
    """Audit, log, count and answer a refused notification (never with its values)."""
    details: dict[str, Any] = {"provider": provider, "hook": hook, "reason": message}
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
    log.warning("webhook.rejected", provider=provider, hook=hook, reason=message)
    refusal: WebhookRefusal = "bad_signature" if status in (403, 404) else "malformed"
    count_webhook_rejection(provider=provider, hook=hook, reason=refusal)
    codes = {400: "bad_request", 403: "bad_signature", 404: "unknown_channel"}
    error: dict[str, Any] = {"code": codes.get(status, "bad_request"), "message": message}
    if fields:
        error["fields"] = fields
    return JSONResponse({"ok": False, "error": error}, status_code=status)


def _channel(session: Session, provider: str, channel_id: str) -> CalendarPushChannel | None:
    return session.scalar(
        select(CalendarPushChannel).where(
            CalendarPushChannel.provider == provider,
            CalendarPushChannel.channel_id == channel_id,
            CalendarPushChannel.state == "active",
        )
    )


@router.post(GOOGLE_PATH, response_model=None)
def google_notification(
    request: Request, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    """A Google Calendar channel's notification (headers only, no body)."""
    headers = request.headers
    refuse = ("google", "calendar")
    wanted = ("x-goog-channel-id", "x-goog-resource-id", "x-goog-resource-state")
    missing = {name: "is required" for name in wanted if not headers.get(name)}
    number_text = headers.get("x-goog-message-number", "")
    if not number_text.isdigit():
        missing["x-goog-message-number"] = "must be a whole number"
    if headers.get("x-goog-resource-state") not in (None, "", *GOOGLE_STATES):
        missing["x-goog-resource-state"] = "is not one of sync, exists, not_exists"
    if missing:
        return _refuse(
            session,
            origin,
            *refuse,
            status=400,
            message="a header is missing or wrong",
            fields=missing,
        )
    row = _channel(session, "google", headers["x-goog-channel-id"])
    if row is None:
        return _refuse(session, origin, *refuse, status=404, message="no such channel")
    if not secret_matches(row.secret_hash, headers.get("x-goog-channel-token")):
        return _refuse(
            session, origin, *refuse, status=403, message="the channel token does not match"
        )
    if headers["x-goog-resource-id"] != row.resource_id:
        return _refuse(
            session, origin, *refuse, status=403, message="the resource id does not match"
        )
    if not newer_message(session, row, int(number_text)):
        return Response(status_code=200)  # a replay, or a late retry: already acted on
    if headers["x-goog-resource-state"] != "sync":
        request_sync(session, settings, row)
    return Response(status_code=200)


def _validation(request: Request) -> Response | None:
    """Graph's handshake when a subscription is made: echo validationToken as text/plain."""
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    if not token or len(token) > MAX_VALIDATION_TOKEN:
        return JSONResponse(
            {
                "ok": False,
                "error": {
                    "code": "bad_request",
                    "message": "validationToken is empty or too long",
                    "fields": {"validationToken": "is empty or too long"},
                },
            },
            status_code=400,
        )
    return PlainTextResponse(token, status_code=200)


async def read_notifications(request: Request) -> list[dict[str, Any]] | None:
    """The posted `value` array (read in the event loop), or None if it is not one."""
    if "validationToken" in request.query_params:
        return []
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # nested too deep for the parser: not JSON either
        return None
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return None
    return value


NotificationsDep = Annotated[list[dict[str, Any]] | None, Depends(read_notifications)]


def _genuine(
    session: Session, items: list[dict[str, Any]]
) -> tuple[list[tuple[CalendarPushChannel, dict[str, Any]]], int | None]:
    """The items that name a known subscription with its clientState; else the refusal's
    status (404 none known, 403 a clientState that does not match)."""
    found, unknown, mismatched = [], 0, 0
    for item in items:
        row = _channel(session, "microsoft", str(item.get("subscriptionId") or ""))
        if row is None:
            unknown += 1
        elif not secret_matches(row.secret_hash, item.get("clientState")):
            mismatched += 1
        else:
            found.append((row, item))
    if mismatched:
        return [], 403
    if not found and unknown:
        return [], 404
    return found, None


def _graph_refusal(
    session: Session, origin: RequestOrigin, hook: str, status: int | None
) -> JSONResponse:
    refuse = ("microsoft", hook)
    if status == 403:
        return _refuse(
            session, origin, *refuse, status=403, message="the clientState does not match"
        )
    if status == 404:
        return _refuse(session, origin, *refuse, status=404, message="no such subscription")
    return _refuse(
        session,
        origin,
        *refuse,
        status=400,
        message="the body is not a notification collection",
        fields={"value": "must be an array of notifications"},
    )


@router.post(MICROSOFT_PATH, response_model=None)
def graph_notification(
    request: Request,
    items: NotificationsDep,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """Graph's change notifications for a subscription (or its validation handshake)."""
    handshake = _validation(request)
    if handshake is not None:
        return handshake
    if not items:
        return _graph_refusal(session, origin, "calendar", None)
    found, refusal = _genuine(session, items)
    if refusal is not None:
        return _graph_refusal(session, origin, "calendar", refusal)
    for row in {row.id: row for row, _ in found}.values():
        request_sync(session, settings, row)
    return Response(status_code=202)


@router.post(MICROSOFT_LIFECYCLE_PATH, response_model=None)
def graph_lifecycle(
    request: Request,
    items: NotificationsDep,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """Graph's lifecycle notifications: reauthorizationRequired (renew the subscription),
    subscriptionRemoved (make a new one), missed (sync: notifications were lost)."""
    handshake = _validation(request)
    if handshake is not None:
        return handshake
    if not items or any(item.get("lifecycleEvent") not in LIFECYCLE_EVENTS for item in items):
        return _refuse(
            session,
            origin,
            "microsoft",
            "calendar_lifecycle",
            status=400,
            message="the body is not a lifecycle notification collection",
            fields={"value": "must be lifecycle notifications"},
        )
    found, refusal = _genuine(session, items)
    if refusal is not None:
        return _graph_refusal(session, origin, "calendar_lifecycle", refusal)
    for row, item in found:
        event = item["lifecycleEvent"]
        log.info("calendar.push_lifecycle", integration_id=row.integration_id, lifecycle=event)
        if event == "missed":
            request_sync(session, settings, row)
        elif event == "reauthorizationRequired":
            enqueue_after_commit(session, "calendars.push_renew", row.integration_id)
        else:
            enqueue_after_commit(session, "calendars.push_start", row.integration_id)
            request_sync(session, settings, row)  # changes may have gone unannounced
    return Response(status_code=202)
