"""GET /inbox page by page: every conversation exactly once, in the inbox's order (urgent, then
unread, then the most recent, ties included), a clinician's pages holding their care team only."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.clients.access_models import CareTeamMember
from proirp.comms.inbox.models import MessageRead
from proirp.comms.models import Communication
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff

PRACTICE = "+13125550000"


def _inbound(db: Session, client_id: str | None, number: str, minutes_ago: int) -> Communication:
    at = utcnow().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    comm = Communication(
        client_id=client_id,
        direction="inbound",
        channel="sms",
        to_address=PRACTICE,
        from_address=number,
        body="Can we talk?",
        status="received",
        provider="twilio",
        provider_message_id=f"SM{number[1:]}{minutes_ago:04d}",
        created_at=at,
        updated_at=at,
    )
    db.add(comm)
    db.flush()
    return comm


def _pages(api: TestClient, staff: Staff, limit: int) -> list[list[dict[str, object]]]:
    pages, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/inbox", params=params, headers=staff.headers)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["conversations"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the pages do not end"


def test_pages_hold_every_conversation_once_in_order(
    api: TestClient, db: Session, staff: Staff
) -> None:
    clients = [create_client(db, phone=f"+1202555{n:04d}") for n in range(7)]
    # Four conversations tie on their newest message; one is read; two numbers match nobody.
    for n, client in enumerate(clients):
        _inbound(db, client.id, client.phone or "", minutes_ago=5 if n < 4 else 10 + n)
    read = _inbound(db, clients[6].id, clients[6].phone or "", minutes_ago=1)
    for comm in db.query(Communication).filter(Communication.client_id == clients[6].id):
        db.add(MessageRead(user_id=staff.user.id, communication_id=comm.id, read_at=utcnow()))
    _inbound(db, None, "+14155550101", minutes_ago=7)
    _inbound(db, None, "+14155550102", minutes_ago=5)
    db.flush()

    pages = _pages(api, staff, limit=3)
    listed = [(c["client_id"], c["number"]) for page in pages for c in page]
    assert [len(page) for page in pages] == [3, 3, 3]
    assert len(set(listed)) == len(listed) == 9
    unread = [c for page in pages for c in page if c["unread"]]
    assert [c for page in pages for c in page][: len(unread)] == unread  # unread first
    assert listed[-1] == (read.client_id, None)  # read: last, however recent
    times = [str(c["last_inbound_at"]) for c in unread]
    assert times == sorted(times, reverse=True)


def test_a_clinicians_pages_hold_their_care_team_only(
    api: TestClient, db: Session, staff: Staff
) -> None:
    clinician = create_staff(db, role="clinician")
    clients = [create_client(db, phone=f"+1202555{n:04d}") for n in range(5)]
    for n, client in enumerate(clients):
        _inbound(db, client.id, client.phone or "", minutes_ago=n)
        if n % 2 == 0:
            db.add(CareTeamMember(client_id=client.id, user_id=clinician.user.id))
    _inbound(db, None, "+14155550101", minutes_ago=3)
    db.flush()

    pages = _pages(api, clinician, limit=2)
    listed = [c["client_id"] for page in pages for c in page]
    assert listed == [clients[0].id, clients[2].id, clients[4].id]
