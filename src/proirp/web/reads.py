"""Reads that several pages share: clients' names for ids, and a user's recent failed messages.
Each read of client records is audited where it is shown, as the API's reads are.

A page names only the clients its viewer sees in lists (clients.access): an appointment left on
a clinician's calendar, a message they sent or a campaign of theirs may be with a client no
longer on their care team, and the page shows fixed words for that client instead."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.access import care_team_of
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.kit.time import utcnow

FAILED = ("failed", "undelivered", "blocked")


def client_names(
    session: Session, client_ids: Iterable[str | None], *, viewer: str
) -> dict[str, str]:
    """ "First Last" for each id the viewer may see (archived clients too: their history is still
    shown): every client for admins and the front desk, the care team for a clinician. Lists keep
    to the care team, so a break-glass grant names nobody here. An id left out is shown in fixed
    words ("A client outside your care team")."""
    wanted = {client_id for client_id in client_ids if client_id}
    team = care_team_of(session, viewer)
    ids = sorted(wanted if team is None else wanted & team)
    if not ids:
        return {}
    rows = session.execute(
        select(Client.id, Client.first_name, Client.last_name).where(Client.id.in_(ids))
    )
    return {row.id: f"{row.first_name} {row.last_name}" for row in rows}


def recent_failures(
    session: Session, user_id: str, *, origin: RequestOrigin, days: int = 7, limit: int = 20
) -> list[Communication]:
    """Messages the user sent in the last `days` that failed, bounced or were blocked."""
    since = utcnow() - timedelta(days=days)
    comms = list(
        session.scalars(
            select(Communication)
            .where(
                Communication.user_id == user_id,
                Communication.status.in_(FAILED),
                Communication.created_at >= since,
            )
            .order_by(Communication.created_at.desc(), Communication.id.desc())
            .limit(limit)
        )
    )
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.COMMUNICATIONS_LISTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"communication_ids": [c.id for c in comms], "campaign_id": None},
    )
    return comms
