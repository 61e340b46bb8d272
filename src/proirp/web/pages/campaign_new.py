"""A new campaign: who gets it (a filter, or clients picked from a search), what (free text, or an
email template) and when (now, or at a time); then a preview of each recipient's outcome — who
would be blocked or left out, and why — before it is sent or scheduled.

The request is the API's own (`BulkCreate`), started by the same services as `POST /comms/bulk`.
Sending carries the fingerprint of the request its preview showed: a campaign changed after its
preview is previewed again rather than sent."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.clients import service as clients
from proirp.clients.access import care_team_of
from proirp.clients.service import Actor
from proirp.comms.campaigns.preview import CampaignPreview, preview_campaign
from proirp.comms.inbox.practice import inbox_practice
from proirp.comms.outgoing import campaign_selection, start_bulk
from proirp.comms.request_keys import Answer, keep
from proirp.comms.schemas import MAX_BULK_RECIPIENTS, BulkCreate
from proirp.comms.templates import service as templates
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.pagination import MAX_LIMIT, PageParams
from proirp.web.reads import client_names
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, field, page_router
from proirp.web.send_once import hold_form_key, new_send_key

router = page_router()
FOUND_SHOWN = 50  # clients a search offers to pick at once
LEFT_OUT_SHOWN = 200  # recipients a preview names
CHOICES = {"yes": True, "no": False}
CHANGED = "The campaign changed after its preview: check this preview, then send it."

Draft = dict[str, Any]


def _draft(form: FormData | None) -> Draft:
    """The form as typed, to show again; an empty one for a new campaign."""
    if form is None:
        return {"type": "sms", "recipients": "filter", "when": "now", "client_ids": []}
    body = form.get("body")
    picked = [str(v) for v in form.getlist("client_ids") if v]
    return {
        "name": field(form, "name"),
        "type": field(form, "type") or "sms",
        "recipients": field(form, "recipients") or "filter",
        "sms_consent": field(form, "sms_consent"),
        "email_consent": field(form, "email_consent"),
        "q": field(form, "q"),
        "client_ids": list(dict.fromkeys(picked))[:MAX_BULK_RECIPIENTS],
        "find": field(form, "find"),
        "template_id": field(form, "template_id"),
        "subject": field(form, "subject"),
        # As typed, but with the browser's CRLF line breaks as the message's own.
        "body": body.replace("\r\n", "\n") if isinstance(body, str) and body.strip() else None,
        "when": field(form, "when") or "now",
        "send_at": field(form, "send_at"),
    }


def _send_at(draft: Draft, zone: ZoneInfo) -> str | None:
    if draft["when"] != "later":
        return None
    try:
        local = datetime.fromisoformat(draft["send_at"] or "")
    except ValueError:
        raise ValidationFailed(
            "Choose when to send it.", fields={"send_at": "a date and time, or choose 'now'"}
        ) from None
    return local.replace(tzinfo=zone).isoformat()


def _request(draft: Draft, zone: ZoneInfo) -> BulkCreate:
    """The API's request for this campaign, validated as `POST /comms/bulk` validates it."""
    data: dict[str, Any] = {
        "type": draft["type"],
        "name": draft["name"],
        "body": draft["body"],
        "template_id": draft["template_id"],
        "send_at": _send_at(draft, zone),
    }
    if draft["type"] == "email":  # the subject field is for email only
        data["subject"] = draft["subject"]
    if draft["recipients"] == "pick":
        data["client_ids"] = draft["client_ids"]
    else:
        choices = {
            "sms_consent": CHOICES.get(draft["sms_consent"] or ""),
            "email_consent": CHOICES.get(draft["email_consent"] or ""),
            "q": draft["q"],
        }
        data["filter"] = {k: v for k, v in choices.items() if v is not None}
    return BulkCreate.model_validate({k: v for k, v in data.items() if v is not None})


def _fingerprint(body: BulkCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Visit:
    """Who is at the form, from where, and the practice's time zone (the form's times are in it)."""

    request: Request
    session: Session
    user: User
    origin: RequestOrigin
    settings: Settings
    zone: ZoneInfo


def _visit(
    request: Request, session: Session, user: User, origin: RequestOrigin, settings: Settings
) -> Visit:
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    return Visit(request, session, user, origin, settings, zone)


def _names(visit: Visit, client_ids: list[str]) -> dict[str, str]:
    """The names the form shows (picked clients, those left out): audited as a list of clients.
    A clinician's form names only their care team (clients.access), whatever ids it was sent."""
    team = care_team_of(visit.session, visit.user.id)
    if team is not None:
        client_ids = [client_id for client_id in client_ids if client_id in team]
    if not client_ids:
        return {}
    record_audit(
        visit.session,
        actor=visit.user.id,
        action=AuditAction.CLIENTS_LISTED,
        ip=visit.origin.ip,
        user_agent=visit.origin.user_agent,
        details={"client_ids": client_ids, "searched": False},
    )
    return client_names(visit.session, client_ids, viewer=visit.user.id)


def _page(
    visit: Visit,
    draft: Draft,
    *,
    preview: CampaignPreview | None = None,
    fingerprint: str | None = None,
    notice: str | None = None,
) -> Response:
    found = []
    if draft["recipients"] == "pick" and draft.get("searching"):
        # The client search, audited as GET /clients is; the text stays in the form, never a URL.
        results, _ = clients.list_clients(
            visit.session,
            q=draft["find"],
            page=PageParams(FOUND_SHOWN, None),
            actor=Actor(visit.user.id, visit.origin),
        )
        found = [c for c in results if c.id not in draft["client_ids"]]
    left_out = preview.left_out[:LEFT_OUT_SHOWN] if preview else []
    named = list(dict.fromkeys([*draft["client_ids"], *(r.client_id for r in left_out)]))
    email_templates, _ = templates.list_templates(
        visit.session, channel="email", page=PageParams(MAX_LIMIT, None)
    )
    return render(
        visit.request,
        "campaign_new.html",
        user=visit.user,
        draft=draft,
        found=found,
        names=_names(visit, named),
        email_templates=email_templates,
        preview=preview,
        left_out=left_out,
        fingerprint=fingerprint,
        send_key=new_send_key(),
        zone=visit.zone,
        notice=notice,
    )


def _previewed(
    visit: Visit, draft: Draft, body: BulkCreate, *, notice: str | None = None
) -> Response:
    """The form again with each recipient's outcome, and the fingerprint its send button carries."""
    preview = preview_campaign(
        visit.session,
        channel=body.type,
        selection=campaign_selection(visit.session, body, user_id=visit.user.id),
        body=body.body or "",
        subject=body.subject,
        html=body.html,
        template_id=body.template_id,
        settings=visit.settings,
    )
    return _page(visit, draft, preview=preview, fingerprint=_fingerprint(body), notice=notice)


@router.get("/campaigns/new")
def new_campaign_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    return _page(_visit(request, session, user, origin, settings), _draft(None))


@router.post("/campaigns/new")
def new_campaign_step(
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """The form again: with the clients a search found to pick from, or with the preview."""
    visit, draft = _visit(request, session, user, origin, settings), _draft(form)
    if field(form, "step") == "find":
        draft["recipients"], draft["searching"] = "pick", True
        return _page(visit, draft)
    return _previewed(visit, draft, _request(draft, visit.zone))


@router.post("/campaigns")
def send_campaign(
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    """Start (or schedule) the campaign its preview showed."""
    visit, draft = _visit(request, session, user, origin, settings), _draft(form)
    body = _request(draft, visit.zone)
    if field(form, "previewed") != _fingerprint(body):
        return _previewed(visit, draft, body, notice=CHANGED)
    key, earlier = hold_form_key(session, user.id, form, "campaign", body)
    if earlier is not None:
        return RedirectResponse(str(earlier.body["location"]), status_code=303)  # started already
    campaign = start_bulk(session, body, user=user, origin=origin, settings=settings)
    done = "scheduled" if campaign.send_at else "started"
    location = f"{PREFIX}/campaigns/{campaign.id}?done={done}"
    if key:
        keep(session, user.id, key, Answer(303, {"location": location}))
    return RedirectResponse(location, status_code=303)
