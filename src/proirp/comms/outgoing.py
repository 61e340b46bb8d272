"""One message to one client, as `POST /comms` takes it (and the staff UI's composer): queue it,
or say beforehand what sending it would do."""

from __future__ import annotations

from sqlalchemy.orm import Session

from proirp.auth.models import User
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.sending import require_client
from proirp.comms.email import service as email_service
from proirp.comms.models import Communication
from proirp.comms.schemas import CommCreate
from proirp.comms.sms import service as sms_service
from proirp.config import Settings
from proirp.integrations.availability import require_provider
from proirp.kit.origin import RequestOrigin


def _provider(body: CommCreate) -> str:
    return "sendgrid" if body.type == "email" else "twilio"


def queue_message(
    session: Session, body: CommCreate, *, user: User, origin: RequestOrigin, settings: Settings
) -> Communication:
    """Queue it (now or at `send_at`). Bad input raises and writes nothing; a message the guard
    refuses is written `blocked` and MessageBlocked raised, for the caller to commit and show."""
    require_provider(settings, _provider(body))
    client = require_client(session, body.client_id)
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


def check_message(session: Session, body: CommCreate, settings: Settings) -> BlockReason | None:
    """What `queue_message` would do, writing nothing: it raises what it would refuse, returns
    the guard's reason if the message would be recorded blocked, else None."""
    require_provider(settings, _provider(body))
    client = require_client(session, body.client_id)
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
