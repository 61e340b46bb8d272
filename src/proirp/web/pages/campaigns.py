"""Campaigns: the list with each one's progress, and a campaign's page, whose progress bar and
counts follow it live until it has finished; one that has not started can be cancelled.

Starting a campaign is `campaign_new`."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import Role
from proirp.auth.repository import user_by_id
from proirp.comms.campaigns import service as campaigns
from proirp.comms.core import repository
from proirp.comms.inbox.practice import inbox_practice
from proirp.comms.models import Campaign, Communication
from proirp.comms.views import campaign_view, campaign_views
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import NotFound
from proirp.kit.pagination import Cursor, page_params
from proirp.web.reads import client_names
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, page_router

router = page_router()
SENDERS = frozenset({Role.ADMIN, Role.STAFF, Role.CLINICIAN})  # a clinician: their care team
PAGE_SIZE = 25
LEFT_OUT_SHOWN = 100
# A campaign's messages counted by what staff want to know: (key, label, statuses).
BUCKETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("waiting", "Waiting to go", ("queued", "sending", "unknown")),
    ("sent", "Sent", ("sent",)),
    ("delivered", "Delivered", ("delivered",)),
    ("failed", "Failed", ("failed", "undelivered")),
    ("blocked", "Blocked", ("blocked",)),
    ("cancelled", "Cancelled", ("cancelled",)),
]
CANCELLABLE = ("scheduled", "queued")  # its fan-out has not begun
OVER = ("finished", "cancelled")
STATUS_TEXT = {
    "scheduled": "Scheduled",
    "queued": "Starting",
    "fanning_out": "Preparing its messages",
    "sending": "Sending",
    "finished": "Finished",
    "cancelled": "Cancelled",
}
NOTICES = {
    "started": "The campaign has started: its messages are going out.",
    "scheduled": "The campaign is scheduled. It can be cancelled until it starts.",
    "cancelled": "The campaign was cancelled: it sends nothing.",
}


def buckets(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    return [
        (key, label, sum(counts.get(status, 0) for status in statuses))
        for key, label, statuses in BUCKETS
    ]


def _campaign(session: Session, campaign_id: str, user_id: str) -> Campaign:
    """The campaign, if the user may follow it (a clinician: their own), as GET /campaigns/{id}."""
    try:
        return campaigns.campaign_for(session, campaign_id, user_id=user_id)
    except NotFound:
        raise NotFound("There is no campaign with that id.", code="campaign_not_found") from None


@router.get("/campaigns")
def campaigns_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    page = page_params(limit=PAGE_SIZE, cursor=cursor)
    rows = campaigns.campaigns_for(session, user_id=user.id, limit=page.limit, cursor=page.cursor)
    shown, more = rows[: page.limit], len(rows) > page.limit
    return render(
        request,
        "campaigns.html",
        user=user,
        campaigns=list(zip(shown, campaign_views(session, shown), strict=True)),
        next_cursor=Cursor(shown[-1].created_at, shown[-1].id).encode() if more else None,
        can_send=user.role in SENDERS,
        status_text=STATUS_TEXT,
        zone=ZoneInfo(inbox_practice(session, settings).timezone),
    )


def _left_out(
    session: Session, campaign_id: str, *, user_id: str, origin: RequestOrigin
) -> list[Communication]:
    """The campaign's messages that were blocked or failed, newest first: an audited read, as
    `GET /comms?campaign_id=` is."""
    comms: list[Communication] = []
    for status in ("blocked", "failed", "undelivered"):
        comms += repository.list_communications(
            session,
            client_id=None,
            campaign_id=campaign_id,
            status=status,
            limit=LEFT_OUT_SHOWN,
            cursor=None,
        )[:LEFT_OUT_SHOWN]
    comms = sorted(comms, key=lambda c: (c.created_at, c.id), reverse=True)[:LEFT_OUT_SHOWN]
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.COMMUNICATIONS_LISTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "communication_ids": [c.id for c in comms],
            "campaign_id": campaign_id,
            "provider_id": None,
            # The page names these clients: the read is found under each of them too.
            "client_ids": sorted({c.client_id for c in comms if c.client_id}),
        },
    )
    return comms


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request,
    campaign_id: str,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    campaign = _campaign(session, campaign_id, user.id)
    view = campaign_view(session, campaign)
    left_out = _left_out(session, campaign.id, user_id=user.id, origin=origin)
    creator = user_by_id(session, campaign.created_by_user_id)
    counts = buckets(view["counts"])
    return render(
        request,
        "campaign.html",
        user=user,
        campaign=view,
        record=campaign,
        counts=counts,
        left_out=left_out,
        left_out_total=sum(n for key, _, n in counts if key in ("failed", "blocked")),
        names=client_names(session, [c.client_id for c in left_out], viewer=user.id),
        creator=creator.email if creator else None,
        status_text=STATUS_TEXT,
        over=view["status"] in OVER,
        can_cancel=user.role in SENDERS and view["status"] in CANCELLABLE,
        zone=ZoneInfo(inbox_practice(session, settings).timezone),
        notice=NOTICES.get(done or ""),
    )


@router.get("/live/campaigns/{campaign_id}")
def campaign_live(campaign_id: str, user: PageUser, session: SessionDep) -> dict[str, Any]:
    """The campaign's progress and counts (no names, no text), for its page to poll."""
    view = campaign_view(session, _campaign(session, campaign_id, user.id))
    progress, status = view["progress"], view["status"]
    items: dict[str, dict[str, Any]] = {
        "progress": {"value": progress, "max": 100, "text": f"{progress} %"},
        "progress-text": {"text": f"{progress} %"},
        "status": {"text": STATUS_TEXT.get(status, status), "state": status},
        "total": {"text": str(view["total"])},
    }
    for key, _label, count in buckets(view["counts"]):
        items[f"count-{key}"] = {"text": str(count)}
    over = status in OVER
    # Once it is over the page is fetched once more: the list of who was left out, complete.
    return {"items": items, "refresh": over, "done": over}


@router.post("/campaigns/{campaign_id}/cancel")
def cancel_campaign(
    campaign_id: str, user: PageUser, _form: CheckedForm, session: SessionDep, origin: OriginDep
) -> Response:
    campaigns.cancel_campaign(session, campaign_id, user_id=user.id, origin=origin)
    return RedirectResponse(f"{PREFIX}/campaigns/{campaign_id}?done=cancelled", status_code=303)
