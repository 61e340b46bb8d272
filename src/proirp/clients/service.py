"""Client records: create, read (every read audited), update, delete; consent bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients import repository
from proirp.clients.access import can_reach, care_team_of
from proirp.clients.care_team import join_if_clinician
from proirp.clients.models import Channel, Client, OptOut
from proirp.clients.schemas import ClientCreate, ClientOut, ClientUpdate
from proirp.clients.validation import normalise_phone
from proirp.config import Settings
from proirp.kit.errors import NotFound, ValidationFailed
from proirp.kit.pagination import Cursor, PageParams
from proirp.kit.time import utcnow

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth", "timezone")


@dataclass(frozen=True)
class Actor:
    """The staff member acting, and where the request came from."""

    user_id: str
    origin: RequestOrigin


def _audit(
    session: Session, actor: Actor, action: AuditAction, client_id: str | None, **details: object
) -> None:
    record_audit(
        session,
        actor=actor.user_id,
        action=action,
        client_id=client_id,
        ip=actor.origin.ip,
        user_agent=actor.origin.user_agent,
        details=dict(details),
    )


def _apply(client: Client, changes: dict[str, object], settings: Settings) -> list[str]:
    """Copy validated `changes` onto `client`; returns the names of fields that changed."""
    if changes.get("phone") is not None:
        try:
            changes["phone"] = normalise_phone(
                str(changes["phone"]), region=settings.default_phone_region
            )
        except ValueError as exc:
            raise ValidationFailed(f"phone is {exc}", fields={"phone": str(exc)}) from None

    source = changes.pop("consent_source", None)
    changed: list[str] = []
    for field in CONTACT_FIELDS:
        if field in changes and getattr(client, field) != changes[field]:
            setattr(client, field, changes[field])
            changed.append(field)

    opt_out = changes.get("reminders_opt_out")
    if opt_out is not None and bool(opt_out) != client.reminders_opt_out:
        client.reminders_opt_out = bool(opt_out)
        changed.append("reminders_opt_out")

    now = utcnow()
    for channel in Channel:
        key = f"{channel.value}_consent"
        if key not in changes or changes[key] is None:
            continue
        granted = bool(changes[key])
        if granted == bool(getattr(client, key)):
            continue
        if granted and not source:
            raise ValidationFailed(
                "say how consent was given when recording it",
                fields={"consent_source": f"required when {key} is true"},
            )
        setattr(client, key, granted)
        setattr(client, f"{key}_at", now)
        setattr(client, f"{key}_source", str(source) if source else "withdrawn")
        changed.append(key)
    return changed


def to_out(session: Session, clients: Sequence[Client]) -> list[ClientOut]:
    """API view of `clients`, with their opt-out state looked up in two queries."""
    sms_out = repository.opted_out_addresses(
        session, Channel.SMS, (c.phone for c in clients if c.phone)
    )
    email_out = repository.opted_out_addresses(
        session, Channel.EMAIL, (c.email.lower() for c in clients if c.email)
    )
    views = []
    for c in clients:
        latest = max(
            (
                (c.sms_consent_at, c.sms_consent_source),
                (c.email_consent_at, c.email_consent_source),
            ),
            key=lambda pair: pair[0].timestamp() if pair[0] else 0.0,
        )
        views.append(
            ClientOut(
                id=c.id,
                first_name=c.first_name,
                last_name=c.last_name,
                phone=c.phone,
                email=c.email,
                date_of_birth=c.date_of_birth,
                timezone=c.timezone,
                sms_consent=c.sms_consent,
                sms_consent_at=c.sms_consent_at,
                email_consent=c.email_consent,
                email_consent_at=c.email_consent_at,
                consent_source=latest[1],
                sms_consent_source=c.sms_consent_source,
                email_consent_source=c.email_consent_source,
                sms_opted_out=bool(c.phone and c.phone in sms_out),
                email_suppressed=bool(c.email and c.email.lower() in email_out),
                reminders_opt_out=c.reminders_opt_out,
                created_at=c.created_at,
                updated_at=c.updated_at,
            )
        )
    return views


def opt_outs_of(session: Session, client: Client) -> dict[Channel, Sequence[OptOut]]:
    """The client's active opt-outs on each channel, with their source, reason and date (the
    record `to_out` sums up as `sms_opted_out` and `email_suppressed`); read with the client."""
    return {
        Channel.SMS: repository.active_opt_outs(session, Channel.SMS, client.phone)
        if client.phone
        else [],
        Channel.EMAIL: repository.active_opt_outs(session, Channel.EMAIL, client.email.lower())
        if client.email
        else [],
    }


def create_client(
    session: Session, body: ClientCreate, *, actor: Actor, settings: Settings
) -> Client:
    changes = body.model_dump(exclude_unset=True)
    timezone = changes.get("timezone") or settings.practice_timezone
    if not timezone:
        raise ValidationFailed(
            "timezone is required (or set PRACTICE_TIMEZONE for the practice)",
            fields={"timezone": "required"},
        )
    changes["timezone"] = timezone
    client = Client(created_by_user_id=actor.user_id)
    _apply(client, changes, settings)
    session.add(client)
    session.flush()
    _audit(session, actor, AuditAction.CLIENT_CREATED, client.id)
    join_if_clinician(session, client, actor.user_id, actor.origin)
    return client


def _reachable(session: Session, client_id: str, actor: Actor) -> Client:
    """The client, if there is one and the actor may see it (minimum necessary: clients.access);
    a client outside a clinician's care team is refused as one that does not exist."""
    client = repository.get_client(session, client_id)
    if client is None or not can_reach(session, actor.user_id, client.id, origin=actor.origin):
        raise NotFound("no client with that id", code="client_not_found")
    return client


def get_client(session: Session, client_id: str, *, actor: Actor) -> Client:
    client = _reachable(session, client_id, actor)
    _audit(session, actor, AuditAction.CLIENT_VIEWED, client.id)
    return client


def list_clients(
    session: Session, *, q: str | None, page: PageParams, actor: Actor
) -> tuple[Sequence[Client], str | None]:
    rows = repository.list_clients(
        session,
        q=q,
        limit=page.limit,
        cursor=page.cursor,
        team=care_team_of(session, actor.user_id),
    )
    clients, more = rows[: page.limit], len(rows) > page.limit
    next_cursor = Cursor(clients[-1].created_at, clients[-1].id).encode() if more else None
    # The search text can be a name, so only whether there was one is recorded.
    _audit(
        session,
        actor,
        AuditAction.CLIENTS_LISTED,
        None,
        client_ids=[c.id for c in clients],
        searched=bool(q),
    )
    return clients, next_cursor


def update_client(
    session: Session, client_id: str, body: ClientUpdate, *, actor: Actor, settings: Settings
) -> Client:
    client = _reachable(session, client_id, actor)
    changes = body.model_dump(exclude_unset=True)
    for required in ("first_name", "last_name", "timezone"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be cleared", fields={required: "required"})
    changed = _apply(client, changes, settings)
    if changed:
        client.updated_at = utcnow()
    session.flush()
    _audit(session, actor, AuditAction.CLIENT_UPDATED, client.id, fields=changed)
    return client


def delete_client(session: Session, client_id: str, *, actor: Actor) -> None:
    """Archive the record: its communications and audit trail must outlive it."""
    client = _reachable(session, client_id, actor)
    client.deleted_at = utcnow()
    _audit(session, actor, AuditAction.CLIENT_DELETED, client.id)
