"""A send asked for again with the same key (POST /comms' Idempotency-Key, the composer's hidden
key) is answered as the first time and sent once: a retry after a lost answer, a double click."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.auth.secrets import csrf_for
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.comms import request_keys
from proirp.comms.models import Campaign, Communication, RequestKey
from proirp.comms.request_keys import Answer, fingerprint, hold, keep
from proirp.kit.db import new_id
from proirp.kit.time import utcnow
from tests.comms.rows import own_database
from tests.factories import Staff, create_staff


def _send(api: TestClient, staff: Staff, key: str | None, **body: Any) -> Any:
    headers = staff.headers | ({"Idempotency-Key": key} if key else {})
    return api.post("/comms", json={"type": "sms", **body}, headers=headers)


def _messages(db: Session, client: Client) -> int:
    stmt = select(func.count()).where(Communication.client_id == client.id)
    return db.scalar(stmt) or 0


def _audits(db: Session, action: str) -> int:
    return db.scalar(select(func.count()).where(AuditLog.action == action)) or 0


def test_the_same_key_twice_sends_once_and_answers_alike(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    key = str(uuid.uuid4())
    first = _send(api, staff, key, client_id=client.id, body="Please call our office.")
    again = _send(api, staff, key, client_id=client.id, body="Please call our office.")
    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    assert _messages(db, client) == 1
    assert _audits(db, "SMS_QUEUED") == 1


def test_without_a_key_each_request_is_a_send(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    for _ in range(2):
        assert _send(api, staff, None, client_id=client.id, body="Hello").status_code == 202
    assert _messages(db, client) == 2


def test_a_blocked_send_asked_again_is_the_same_refusal_and_one_row(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    client.sms_consent = False
    db.flush()
    key = str(uuid.uuid4())
    first = _send(api, staff, key, client_id=client.id, body="Hello")
    again = _send(api, staff, key, client_id=client.id, body="Hello")
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
    assert first.json()["error"]["code"] == "message_blocked"
    assert _messages(db, client) == 1 and _audits(db, "SMS_BLOCKED") == 1


def test_a_key_used_for_another_request_is_a_422_naming_it(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    key = str(uuid.uuid4())
    assert _send(api, staff, key, client_id=client.id, body="Hello").status_code == 202
    other = _send(api, staff, key, client_id=client.id, body="Another message")
    assert other.status_code == 422
    assert other.json()["error"]["fields"] == {
        "Idempotency-Key": "was used for a different request"
    }
    assert "Another message" not in other.text
    assert _messages(db, client) == 1


def test_a_refused_request_leaves_its_key_free(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    key = str(uuid.uuid4())
    refused = _send(api, staff, key, client_id="nobody", body="Hello")  # refused once held
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == {"client_id": "no such client"}
    assert db.get(RequestKey, (staff.user.id, key)) is None
    assert _send(api, staff, key, client_id=client.id, body="Hello").status_code == 202


def test_a_key_is_its_sender_s_own(api: TestClient, db: Session, client: Client) -> None:
    key = str(uuid.uuid4())
    for sender in (create_staff(db), create_staff(db)):
        assert _send(api, sender, key, client_id=client.id, body="Hello").status_code == 202
    assert _messages(db, client) == 2


@pytest.mark.parametrize("key", ["", "a" * 101, "has space", "a/b"])
def test_a_malformed_key_is_a_422_naming_the_header(
    api: TestClient, db: Session, staff: Staff, client: Client, key: str
) -> None:
    headers = staff.headers | {"Idempotency-Key": key}
    body = {"type": "sms", "client_id": client.id, "body": "Hello"}
    response = api.post("/comms", json=body, headers=headers)
    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert _messages(db, client) == 0


def test_a_campaign_asked_for_twice_with_a_key_starts_once(
    api: TestClient, db: Session, staff: Staff, client: Client
) -> None:
    headers = staff.headers | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"type": "sms", "client_ids": [client.id], "body": "The office is closed Monday."}
    first = api.post("/comms/bulk", json=body, headers=headers)
    again = api.post("/comms/bulk", json=body, headers=headers)
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["campaign"]["id"] == first.json()["campaign"]["id"]
    assert (db.scalar(select(func.count()).select_from(Campaign)) or 0) == 1


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("keys")) as factory:
        yield factory


def _user(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        session.add(user)
        session.commit()
        return user.id


REQUEST = fingerprint("POST /comms", {"body": "Hello"})


def _first_and_a_second_waiting(
    factory: sessionmaker[Session], key: str
) -> tuple[Session, str, threading.Thread, list[Answer | None]]:
    """A first request holding `key`, not yet committed, and a second with the same key in a
    thread of its own, waiting for it; what the second's hold() gives is put in the list."""
    user_id = _user(factory)
    first = factory()
    assert hold(first, user_id, key, REQUEST) is None  # held, not yet committed
    seen: list[Answer | None] = []

    def second() -> None:
        with factory() as session:
            seen.append(hold(session, user_id, key, REQUEST))
            session.commit()

    waiting = threading.Thread(target=second)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # it waits for the first to finish
    return first, user_id, waiting, seen


def test_a_second_request_waits_for_the_first_and_gets_its_answer(
    factory: sessionmaker[Session],
) -> None:
    """Two requests with one key at once (a double click): the second waits for the first to
    commit, then answers as it did; it never sends."""
    first, user_id, waiting, seen = _first_and_a_second_waiting(factory, "double-click")
    keep(first, user_id, "double-click", Answer(202, {"ok": True, "communication": {"id": "c1"}}))
    first.commit()
    first.close()
    waiting.join(30)
    assert seen == [Answer(202, {"ok": True, "communication": {"id": "c1"}})]


def test_when_the_first_request_is_refused_the_waiting_one_goes_ahead(
    factory: sessionmaker[Session],
) -> None:
    first, _user_id, waiting, seen = _first_and_a_second_waiting(factory, "refused-first")
    first.rollback()  # the first was refused: it wrote nothing, its key included
    first.close()
    waiting.join(30)
    assert seen == [None]  # the second holds the key now, and sends


def test_keys_older_than_a_day_are_forgotten(factory: sessionmaker[Session]) -> None:
    user_id = _user(factory)
    with factory() as session:
        for key, age in (("old", timedelta(days=1, minutes=1)), ("new", timedelta(hours=23))):
            row = RequestKey(user_id=user_id, key=key, fingerprint="f", created_at=utcnow() - age)
            session.add(row)
        session.commit()

    context: Any = type("Context", (), {"session_factory": factory})()
    request_keys.forget_request_keys(context)
    with factory() as session:
        kept = set(session.scalars(select(RequestKey.key).where(RequestKey.user_id == user_id)))
    assert kept == {"new"}


def _composer(api: TestClient, db: Session, client: Client) -> tuple[Staff, str]:
    """A member of staff signed in to the UI, and the send key the client's page gave them."""
    staff = create_staff(db, role="staff")
    api.cookies.clear()
    api.cookies.set("proirp_session", staff.token)
    page = api.get(f"/app/clients/{client.id}")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'name="send_key" value="([0-9a-f]{32})"', page.text)
    assert found, "the composer carries a send key"
    return staff, found.group(1)


def _post_form(api: TestClient, staff: Staff, client: Client, key: str, body: str) -> Any:
    form = {"csrf_token": csrf_for(staff.token), "send_key": key, "channel": "sms", "body": body}
    return api.post(f"/app/clients/{client.id}/messages", data=form, follow_redirects=False)


def test_the_composer_sent_twice_by_a_double_click_sends_once(
    api: TestClient, db: Session, client: Client
) -> None:
    staff, key = _composer(api, db, client)
    first = _post_form(api, staff, client, key, "Please call our office.")
    again = _post_form(api, staff, client, key, "Please call our office.")
    assert first.status_code == again.status_code == 303, again.text[:300]
    assert again.headers["location"] == first.headers["location"]
    assert _messages(db, client) == 1
    api.cookies.clear()


def test_the_same_form_with_other_words_is_another_message(
    api: TestClient, db: Session, client: Client
) -> None:
    staff, key = _composer(api, db, client)
    assert _post_form(api, staff, client, key, "Please call our office.").status_code == 303
    assert _post_form(api, staff, client, key, "Your forms are ready.").status_code == 303
    assert _messages(db, client) == 2
    # The key is kept as the form gave it: what the message said is only in the encrypted
    # fingerprint, never in a column kept in clear (a short message's digest could be guessed).
    stored = db.scalars(select(RequestKey.key).where(RequestKey.user_id == staff.user.id)).all()
    assert stored == [key]
    _, another = _composer(api, db, client)
    assert another != key  # each showing of the form has a key of its own
    api.cookies.clear()


def test_a_blocked_message_sent_twice_shows_the_same_refusal_and_is_recorded_once(
    api: TestClient, db: Session, client: Client
) -> None:
    client.sms_consent = False
    db.flush()
    staff, key = _composer(api, db, client)
    first = _post_form(api, staff, client, key, "Hello")
    again = _post_form(api, staff, client, key, "Hello")
    assert first.status_code == again.status_code == 422
    assert "consent" in again.text.lower()
    assert _messages(db, client) == 1
    api.cookies.clear()


def test_a_campaign_sent_twice_from_its_preview_starts_once(
    api: TestClient, db: Session, client: Client
) -> None:
    staff = create_staff(db, role="staff")
    api.cookies.clear()
    api.cookies.set("proirp_session", staff.token)
    form = {
        "csrf_token": csrf_for(staff.token),
        "name": "Closed Monday",
        "type": "sms",
        "recipients": "pick",
        "client_ids": client.id,
        "body": "The office is closed Monday.",
        "when": "now",
    }
    preview = api.post("/app/campaigns/new", data=form, follow_redirects=False)
    assert preview.status_code == 200, preview.text[:300]
    hidden = dict(re.findall(r'name="(previewed|send_key)" value="([0-9a-f]+)"', preview.text))
    assert set(hidden) == {"previewed", "send_key"}
    first = api.post("/app/campaigns", data=form | hidden, follow_redirects=False)
    again = api.post("/app/campaigns", data=form | hidden, follow_redirects=False)
    assert first.status_code == again.status_code == 303, again.text[:300]
    assert again.headers["location"] == first.headers["location"]
    assert (db.scalar(select(func.count()).select_from(Campaign)) or 0) == 1
    api.cookies.clear()


def test_a_replay_is_given_only_to_a_caller_who_may_still_reach_the_client(
    api: TestClient, db: Session, client: Client
) -> None:
    """The first answer names the client's number: a clinician taken off the client's care team
    since gets the refusal any client out of reach gets, not the answer again."""
    clinician = create_staff(db, role="clinician")
    member = CareTeamMember(client_id=client.id, user_id=clinician.user.id)
    db.add(member)
    db.flush()
    key = str(uuid.uuid4())
    first = _send(api, clinician, key, client_id=client.id, body="Please call our office.")
    assert first.status_code == 202, first.text
    db.delete(member)
    db.flush()
    again = _send(api, clinician, key, client_id=client.id, body="Please call our office.")
    assert again.status_code == 422
    assert again.json()["error"]["fields"] == {"client_id": "no such client"}
    assert client.phone not in again.text
    assert _messages(db, client) == 1
