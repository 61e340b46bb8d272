"""Queries for notices: claiming one (exactly once, whoever else is trying), and finding what
needs one: calendars to connect again, finished campaigns with problems, refused webhooks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.calendars.models import CalendarIntegration
from proirp.comms.models import Campaign, Communication, CommunicationStatus
from proirp.kit.db import new_id
from proirp.notices.models import NoticeKind, StaffNotice

S = CommunicationStatus
WAITING = (S.QUEUED, S.SENDING)  # a campaign with any of these has not finished
PROBLEMS = (S.FAILED, S.UNDELIVERED, S.BLOCKED)


def claim(session: Session, kind: NoticeKind, key: str, *, now: datetime) -> StaffNotice | None:
    """The new notice row for (`kind`, `key`), or None if one exists: INSERT ... ON CONFLICT DO
    NOTHING, so of two workers claiming at once only one gets it (on PostgreSQL the other waits
    for the first to commit, then finds the row)."""
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        make(StaffNotice.__table__)  # type: ignore[arg-type]
        .values(id=new_id(), kind=kind.value, subject_key=key, sent_at=now)
        .on_conflict_do_nothing(index_elements=["kind", "subject_key"])
        .returning(StaffNotice.__table__.c.id)
    )
    notice_id = session.scalar(statement)
    return None if notice_id is None else session.get(StaffNotice, notice_id)


def sent_keys(session: Session, kind: NoticeKind, keys: Sequence[str]) -> set[str]:
    """Which of `keys` already have a notice of `kind`."""
    if not keys:
        return set()
    stmt = select(StaffNotice.subject_key).where(
        StaffNotice.kind == kind.value, StaffNotice.subject_key.in_(list(keys))
    )
    return set(session.scalars(stmt))


@dataclass(frozen=True)
class Reauth:
    """A calendar to connect again: its owner, and when its incident began."""

    integration_id: str
    provider: str
    since: datetime
    user_id: str
    user_email: str


def calendars_needing_reauth(session: Session) -> list[Reauth]:
    """Integrations in needs_reauth, whose owner is active (the caller skips those noticed)."""
    since = CalendarIntegration.needs_reauth_since
    stmt = (
        select(
            CalendarIntegration.id,
            CalendarIntegration.provider,
            since,
            CalendarIntegration.user_id,
            User.email,
        )
        .join(User, User.id == CalendarIntegration.user_id)
        .where(
            CalendarIntegration.status == "needs_reauth",
            since.is_not(None),
            User.is_active.is_(True),
        )
        .order_by(since)
    )
    return [
        Reauth(integration_id, provider, began, user_id, email)
        for integration_id, provider, began, user_id, email in session.execute(stmt)
        if began is not None  # the query's condition, said again for the type
    ]


def still_needs_reauth(session: Session, reauth: Reauth) -> bool:
    """Whether the incident goes on (the calendar was not connected again since it was read)."""
    integration = session.get(CalendarIntegration, reauth.integration_id)
    return (
        integration is not None
        and integration.status == "needs_reauth"
        and integration.needs_reauth_since == reauth.since
    )


def finished_campaigns_with_problems(session: Session, *, fanned_out_since: datetime) -> list[str]:
    """Campaigns fanned out since then, none of whose messages is still queued or sending, with
    a message failed, undelivered or blocked, and no notice yet; oldest first."""
    of_campaign = Communication.campaign_id == Campaign.id
    stmt = (
        select(Campaign.id)
        .where(
            Campaign.fanned_out_at.is_not(None),
            Campaign.fanned_out_at >= fanned_out_since,
            ~exists().where(of_campaign, Communication.status.in_(WAITING)),
            exists().where(of_campaign, Communication.status.in_(PROBLEMS)),
            ~exists().where(
                StaffNotice.kind == NoticeKind.CAMPAIGN_PROBLEMS.value,
                StaffNotice.subject_key == Campaign.id,
            ),
        )
        .order_by(Campaign.fanned_out_at)
    )
    return list(session.scalars(stmt))


def campaign_sender(session: Session, campaign_id: str) -> tuple[Campaign, User] | None:
    """The campaign and the user who created it, if they are still active."""
    stmt = (
        select(Campaign, User)
        .join(User, User.id == Campaign.created_by_user_id)
        .where(Campaign.id == campaign_id, User.is_active.is_(True))
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1])


def _rejections(since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        AuditLog.action == AuditAction.WEBHOOK_REJECTED,
        AuditLog.created_at >= since,
        AuditLog.created_at < until,
    )


def count_rejections(session: Session, *, since: datetime, until: datetime) -> int:
    """Webhook requests refused from `since` up to (not including) `until`."""
    stmt = select(func.count()).select_from(AuditLog).where(*_rejections(since, until))
    return int(session.scalar(stmt) or 0)


def rejections_by_hook(
    session: Session, *, since: datetime, until: datetime
) -> Counter[tuple[str, str]]:
    """Those refusals counted by (provider, hook), from their audit details."""
    stmt = select(AuditLog.details).where(*_rejections(since, until))
    return Counter(
        (str(details.get("provider", "unknown")), str(details.get("hook", "unknown")))
        for details in session.scalars(stmt)
    )


def active_admins(session: Session) -> list[User]:
    stmt = select(User).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    return list(session.scalars(stmt))
