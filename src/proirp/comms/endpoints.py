"""/comms and /campaigns: send one message or a campaign (now or scheduled), follow their
status, cancel what has not gone yet."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.auth.dependencies import AnyStaff
from proirp.auth.models import User
from proirp.clients.access import can_reach, require_reachable, visible_to
from proirp.comms.campaigns import service as campaigns
from proirp.comms.core import repository
from proirp.comms.core.cancelling import cancel_message
from proirp.comms.core.sending import MessageBlocked, Sender, require_client
from proirp.comms.inbox import service as inbox
from proirp.comms.models import Communication, CommunicationStatus
from proirp.comms.outgoing import campaign_selection, queue_message, start_bulk
from proirp.comms.request_keys import Answer, IdempotencyKey, fingerprint, hold, keep
from proirp.comms.responses import (
    CampaignAnswer,
    CampaignList,
    CommunicationAnswer,
    CommunicationDetail,
    CommunicationList,
    MessageRefused,
)
from proirp.comms.schemas import BulkCreate, CommCreate
from proirp.comms.views import (
    campaign_view,
    campaign_views,
    communication_view,
)
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.openapi import errors
from proirp.kit.origin import RequestOrigin
from proirp.kit.pagination import Cursor, PageParams, page_params

router = APIRouter(prefix="/comms", tags=["communications"])
# A Twilio SID (SM + 32 hex), a SendGrid X-Message-Id, or an event's sg_message_id (the
# X-Message-Id, a dot and SendGrid's suffix).
PROVIDER_ID = Query(
    min_length=1,
    max_length=128,
    pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_.-]*)?$",
    description="The id the provider gave the message: a Twilio SID or a SendGrid message id.",
    examples=["SM0123456789abcdef0123456789abcdef"],
)
campaigns_router = APIRouter(prefix="/campaigns", tags=["communications"])
Page = Annotated[PageParams, Depends(page_params)]


@router.post(
    "",
    status_code=202,
    response_model=CommunicationAnswer,
    summary="Send one SMS or email to a client, now or at `send_at`",
    responses={
        422: {"model": MessageRefused, "description": MessageRefused.__doc__},
        **errors(409, 503),
    },
)
def send_communication(
    body: CommCreate,
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    request = fingerprint("POST /comms", body.model_dump(mode="json"))
    if idempotency_key and (earlier := hold(session, user.id, idempotency_key, request)):
        # The first answer names the client's address: given again only to a caller who may
        # still reach the client (a break-glass grant is audited as any access under it is).
        require_reachable(
            session, user.id, require_client(session, body.client_id).id, origin=origin
        )
        return JSONResponse(earlier.body, status_code=earlier.status_code)
    answer = _send_one(session, body, user=user, origin=origin, settings=settings)
    if idempotency_key:
        keep(session, user.id, idempotency_key, answer)
    return JSONResponse(answer.body, status_code=answer.status_code)


def _send_one(
    session: Session, body: CommCreate, *, user: User, origin: RequestOrigin, settings: Settings
) -> Answer:
    try:
        comm = queue_message(session, body, user=user, origin=origin, settings=settings)
    except MessageBlocked as blocked:
        # The blocked row and its audit entry are the record of the refusal: they must commit.
        payload = blocked.to_body()
        payload["communication"] = communication_view(blocked.communication)
        return Answer(blocked.status_code, payload)
    return Answer(202, {"ok": True, "communication": communication_view(comm)})


@router.get(
    "",
    response_model=CommunicationList,
    summary="List communications, or find one by its provider's id",
)
def list_communications(
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    page: Page,
    client_id: Annotated[str | None, Query(max_length=32)] = None,
    campaign_id: Annotated[str | None, Query(max_length=32)] = None,
    status: CommunicationStatus | None = None,
    provider_id: Annotated[str | None, PROVIDER_ID] = None,
) -> dict[str, Any]:
    # One client named, and reachable (a break-glass grant counts, audited): their messages;
    # otherwise only the messages of clients the caller sees (clients.access).
    one_client = client_id is not None and can_reach(session, user.id, client_id, origin=origin)
    rows = repository.list_communications(
        session,
        visible=None if one_client else visible_to(session, user.id, Communication.client_id),
        client_id=client_id,
        campaign_id=campaign_id,
        status=status.value if status else None,
        limit=page.limit,
        cursor=page.cursor,
        # SendGrid's events name a message by its X-Message-Id and a suffix after a dot.
        provider_message_id=provider_id.split(".", 1)[0] if provider_id else None,
    )
    comms, more = rows[: page.limit], len(rows) > page.limit
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.COMMUNICATIONS_LISTED,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "communication_ids": [c.id for c in comms],
            "campaign_id": campaign_id,
            "provider_id": provider_id,
        },
    )
    return {
        "ok": True,
        "communications": [communication_view(c) for c in comms],
        "next_cursor": Cursor(comms[-1].created_at, comms[-1].id).encode() if more else None,
    }


@router.get(
    "/{comm_id}",
    response_model=CommunicationDetail,
    summary="Read a communication: its text (an audited read) and its status history",
    responses=errors(404),
)
def get_communication(
    comm_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    view = inbox.read_message(session, comm_id, user_id=user.id, origin=origin)
    return {"ok": True, "communication": view}


@router.post(
    "/bulk",
    status_code=202,
    response_model=CampaignAnswer,
    summary="Start a campaign, now or at `send_at`",
    description=(
        "A clinician's campaign is for clients on their care team only: any other id in "
        "`client_ids` is refused (422 naming the field, as an unknown id is), and a `filter` "
        "selects from their care team when the campaign fans out."
    ),
    responses=errors(409, 503),
)
def send_bulk(
    body: BulkCreate,
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    request = fingerprint("POST /comms/bulk", body.model_dump(mode="json"))
    if idempotency_key and (earlier := hold(session, user.id, idempotency_key, request)):
        campaign_selection(session, body, user_id=user.id)  # still the caller's to send to
        return JSONResponse(earlier.body, status_code=earlier.status_code)
    campaign = start_bulk(session, body, user=user, origin=origin, settings=settings)
    answer = Answer(202, {"ok": True, "campaign": campaign_view(session, campaign)})
    if idempotency_key:
        keep(session, user.id, idempotency_key, answer)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.post(
    "/{comm_id}/cancel",
    response_model=CommunicationAnswer,
    summary="Cancel a message that has not gone: scheduled, or not yet taken by a worker",
    description=(
        "Any member of staff who may send may cancel. A message still `queued` becomes "
        "`cancelled` and is never sent; once a worker has claimed it (`sending` or later) the "
        "answer is 409 `not_cancellable`."
    ),
    responses=errors(404, 409),
)
def cancel_communication(
    comm_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    comm = cancel_message(session, comm_id, Sender(user.id, origin))
    return {"ok": True, "communication": communication_view(comm)}


@campaigns_router.get(
    "",
    response_model=CampaignList,
    summary="List campaigns, newest first, with their progress (a clinician: their own)",
)
def list_campaigns(session: SessionDep, user: AnyStaff, page: Page) -> dict[str, Any]:
    rows = campaigns.campaigns_for(session, user_id=user.id, limit=page.limit, cursor=page.cursor)
    shown, more = rows[: page.limit], len(rows) > page.limit
    return {
        "ok": True,
        "campaigns": campaign_views(session, shown),
        "next_cursor": Cursor(shown[-1].created_at, shown[-1].id).encode() if more else None,
    }


@campaigns_router.post(
    "/{campaign_id}/cancel",
    response_model=CampaignAnswer,
    summary="Cancel a campaign that has not started (a clinician: their own)",
    description=(
        "A campaign whose fan-out has not begun (`scheduled`, or `queued`) becomes `cancelled` "
        "and sends nothing. Once it is fanning out or has fanned out the answer is 409 "
        "`not_cancellable`; each of its messages still queued can be cancelled by itself."
    ),
    responses=errors(404, 409),
)
def cancel_campaign(
    campaign_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    campaign = campaigns.cancel_campaign(session, campaign_id, user_id=user.id, origin=origin)
    return {"ok": True, "campaign": campaign_view(session, campaign)}


@campaigns_router.get(
    "/{campaign_id}",
    response_model=CampaignAnswer,
    summary="Read a campaign's progress",
    responses=errors(404),
)
def get_campaign(campaign_id: str, session: SessionDep, user: AnyStaff) -> dict[str, Any]:
    campaign = campaigns.campaign_for(session, campaign_id, user_id=user.id)
    return {"ok": True, "campaign": campaign_view(session, campaign)}
