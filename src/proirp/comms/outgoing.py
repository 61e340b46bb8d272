"""What staff send, as `POST /comms` and `POST /comms/bulk` take it (and the staff UI's composer
and new-campaign page): one message to one client, queued or checked beforehand; a campaign
started."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from proirp.auth.models import User
from proirp.clients.access import require_all_reachable, require_reachable, sees_every_client
from proirp.comms.campaigns import service as campaigns
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.sending import require_client
from proirp.comms.email import service as email_service
from proirp.comms.models import Campaign, Communication
from proirp.comms.schemas import BulkCreate, CommCreate
from proirp.comms.sms import service as sms_service
from proirp.config import Settings
from proirp.integrations.availability import require_provider
from proirp.kit.errors import ValidationFailed
from proirp.kit.origin import RequestOrigin


def _provider(body: CommCreate | BulkCreate) -> str:
    return "sendgrid" if body.type == "email" else "twilio"


def queue_message(
    session: Session, body: CommCreate, *, user: User, origin: RequestOrigin, settings: Settings
) -> Communication:
    """Queue it (now or at `send_at`). Bad input raises and writes nothing; a message the guard
    refuses is written `blocked` and MessageBlocked raised, for the caller to commit and show."""
    require_provider(settings, _provider(body))
    client = require_client(session, body.client_id)
    require_reachable(session, user.id, client.id, origin=origin)
    if body.type == "email":
        if body.template_id:
            return email_service.send_template_email(
                session,
                to=None,
                template_id=body.template_id,
                dynamic_data=body.variables,
                client_id=client.id,
                user_id=user.id,
                settings=settings,
                origin=origin,
                send_at=body.send_at,
            )
        return email_service.send_email(
            session,
            to=None,
            subject=body.subject,
            text=body.body,
            html=body.html,
            client_id=client.id,
            user_id=user.id,
            settings=settings,
            origin=origin,
            send_at=body.send_at,
        )
    text = body.body or ""
    if body.template_id:
        text = sms_service.render_sms_template(
            session, body.template_id, client, body.variables, settings
        )
    return sms_service.send_sms(
        session,
        to=None,
        body=text,
        client_id=client.id,
        user_id=user.id,
        settings=settings,
        origin=origin,
        template_id=body.template_id,
        send_at=body.send_at,
    )


def check_message(
    session: Session, body: CommCreate, settings: Settings, *, user_id: str
) -> BlockReason | None:
    """What `queue_message` would do, writing nothing: it raises what it would refuse, returns
    the guard's reason if the message would be recorded blocked, else None."""
    require_provider(settings, _provider(body))
    client = require_client(session, body.client_id)
    require_reachable(session, user_id, client.id)
    if body.type == "email":
        return email_service.check_email(
            session,
            client,
            subject=body.subject,
            text=body.body,
            html=body.html,
            template_id=body.template_id,
            variables=body.variables,
            settings=settings,
        )
    text = body.body or ""
    if body.template_id:
        text = sms_service.render_sms_template(
            session, body.template_id, client, body.variables, settings
        )
    return sms_service.check_sms(session, client, text, settings)


def campaign_selection(session: Session, body: BulkCreate, *, user_id: str) -> dict[str, Any]:
    """Who a campaign is for, as it is recorded (ids, or the filter applied when it fans out);
    what a campaign cannot take, refused. A clinician's campaign selects their care team alone:
    a client id outside it is refused, and the fan-out keeps to the team (`care_team_of`)."""
    if body.type == "sms" and body.template_id:
        raise ValidationFailed(
            "SMS campaigns take a body; per-client templates are not available for SMS campaigns",
            fields={"template_id": "not supported for SMS campaigns yet"},
        )
    selection: dict[str, Any]
    if body.client_ids is not None:
        selection = {"client_ids": list(dict.fromkeys(body.client_ids))}
    else:
        selection = {"filter": body.filter.model_dump(exclude_none=True) if body.filter else {}}
    if not sees_every_client(session, user_id):
        if "client_ids" in selection:
            require_all_reachable(session, user_id, selection["client_ids"])
        selection["care_team_of"] = user_id
    return selection


def start_bulk(
    session: Session, body: BulkCreate, *, user: User, origin: RequestOrigin, settings: Settings
) -> Campaign:
    """Start the campaign (now or at `send_at`): the fan-out job writes each recipient's row."""
    require_provider(settings, _provider(body))
    selection = campaign_selection(session, body, user_id=user.id)
    if body.type == "email":
        return campaigns.start_email_campaign(
            session,
            selection=selection,
            subject=body.subject,
            text=body.body,
            html=body.html,
            user_id=user.id,
            settings=settings,
            origin=origin,
            name=body.name,
            template_id=body.template_id,
            send_at=body.send_at,
        )
    return campaigns.start_campaign(
        session,
        channel=body.type,
        selection=selection,
        body=body.body or "",
        user_id=user.id,
        origin=origin,
        name=body.name,
        send_at=body.send_at,
    )
