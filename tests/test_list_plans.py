"""Each list with a filter reads one index that holds the filter and the list's order (migration
0022), so a page costs the same at a million rows as at a thousand: checked in the plan, so that
dropping the index fails here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import true
from sqlalchemy.orm import Session

from proirp.audit.repository import list_audit_logs
from proirp.clients.repository import list_clients
from proirp.comms.core.repository import list_communications
from proirp.comms.inbox.conversations import conversations, unmatched
from proirp.comms.inbox.models import InboxConversation
from proirp.kit.pagination import Cursor
from proirp.kit.time import utcnow
from tests.plans import plan_of

ID = "0123456789abcdef0123456789abcdef"


def _comms(**filters: Any) -> Callable[[Session], object]:
    wanted = {"client_id": None, "campaign_id": None, "status": None, **filters}
    return lambda db: list_communications(db, **wanted, limit=50, cursor=None)


def _audit(**filters: Any) -> Callable[[Session], object]:
    wanted = {"user_id": None, "client_id": None, "action": None, **filters}
    return lambda db: list_audit_logs(
        db, **wanted, since=None, until=None, before_id=None, limit=50
    )


def _inbox(db: Session) -> object:
    """The inbox of a reader who has not read this conversation, asked as for a clinician (for
    one who sees every client, a conversation or two read of nothing get rows of their own)."""
    number = "+13125550101"
    at = utcnow()
    db.add(
        InboxConversation(
            conversation=f"number:{number}", number=number, messages=1, last_inbound_at=at
        )
    )
    db.flush()
    return conversations(db, ID, visible=true(), every_client=False, limit=50, offset=0)


def _unmatched(db: Session) -> object:
    return unmatched(db, limit=50, cursor=None)


@pytest.mark.parametrize(
    ("listing", "index"),
    [
        (_comms(status="failed"), "ix_communications_status_created_at"),
        (_comms(campaign_id=ID), "ix_communications_campaign_created_at"),
        (_comms(client_id=ID), "ix_communications_client_id_created_at"),
        (_audit(user_id=ID), "ix_audit_logs_actor_user_id_id"),
        (_audit(client_id=ID), "ix_audit_logs_client_id_id"),
        (_audit(action="CLIENT_UPDATED"), "ix_audit_logs_action_id"),
        # Its four parts (decision 0028): conversations never read, newest first; the reader's
        # conversations with unread messages, then those all read, newest first.
        (_inbox, "ix_inbox_conversations_last_inbound_at"),
        (_inbox, "ix_conversation_reads_unread"),
        (_inbox, "ix_conversation_reads_all_read"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_filtered_list_reads_its_index(
    db: Session, listing: Callable[[Session], object], index: str
) -> None:
    plan = plan_of(db, lambda: listing(db))
    assert index in plan, plan


def test_the_unmatched_messages_are_a_range_of_an_index(db: Session) -> None:
    """PostgreSQL reads the unmatched messages' own index, newest first (at a million messages a
    sort of every unmatched one was 3.5 times the time at a thousand); SQLite, without
    statistics, prefers the client's index, whose range of no client is in the same order."""
    plan = plan_of(db, lambda: _unmatched(db))
    if db.get_bind().dialect.name == "postgresql":
        assert "ix_communications_unmatched_inbound" in plan, plan
    else:
        assert "ix_communications_client_id_created_at" in plan, plan


def test_a_page_far_down_the_list_starts_at_its_cursor(db: Session) -> None:
    """The cursor's condition holds a range on created_at, so the index is entered at the cursor
    (without it, PostgreSQL read every newer row first: two seconds at a million messages)."""
    cursor = Cursor(utcnow() - timedelta(days=300), ID)
    plan = plan_of(
        db,
        lambda: list_communications(
            db, client_id=None, campaign_id=None, status=None, limit=50, cursor=cursor
        ),
    )
    sqlite = db.get_bind().dialect.name == "sqlite"
    assert ("(created_at<?)" if sqlite else "Index Cond: (created_at <=") in plan, plan


def test_a_clinicians_clients_are_read_by_id_then_ordered(db: Session) -> None:
    """A clinician's list reads their team's clients by id, then orders those few: walking every
    client newest first and throwing away those of other teams was 2x the time at 100,000
    clients (a team of old clients is found last)."""
    plan = plan_of(
        db,
        lambda: list_clients(db, q=None, limit=50, cursor=None, team={ID}),
        avoid=("seqscan",),
    )
    if db.get_bind().dialect.name == "postgresql":
        assert "CTE Scan on team" in plan and "pk_clients" in plan, plan
        assert "ix_clients_created_at" not in plan, plan
    else:  # SQLite (MATERIALIZED needs 3.35; the CTE is read in place): the team by its key
        assert "(id=?)" in plan and "SCAN clients" not in plan, plan
