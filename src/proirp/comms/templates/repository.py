"""Queries for message templates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.comms.models import Template
from proirp.kit.pagination import Cursor


def get_template(session: Session, template_id: str) -> Template | None:
    """The template, or None when there is none or it is archived."""
    template = session.get(Template, template_id)
    if template is None or template.archived_at is not None:
        return None
    return template


def name_taken(session: Session, name: str, *, other_than: str | None = None) -> bool:
    """Whether any template, archived ones included, already has `name`."""
    stmt = select(Template.id).where(Template.name == name)
    if other_than is not None:
        stmt = stmt.where(Template.id != other_than)
    return session.scalar(stmt.limit(1)) is not None


def list_templates(
    session: Session, *, channel: str | None, limit: int, cursor: Cursor | None
) -> Sequence[Template]:
    """Newest first, archived ones left out; one row more than `limit` when there are more."""
    stmt = select(Template).where(Template.archived_at.is_(None))
    if channel is not None:
        stmt = stmt.where(Template.channel == channel)
    if cursor is not None:
        stmt = stmt.where(cursor.before(Template.created_at, Template.id))
    stmt = stmt.order_by(Template.created_at.desc(), Template.id.desc()).limit(limit + 1)
    return session.scalars(stmt).all()
