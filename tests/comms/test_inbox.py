"""The inbox through its routes and Twilio's signed inbound webhook: messages stored once,
matched by phone, threaded, read per user, urgent language answered and alerted, and the
after-hours reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from proirp.audit.models import AuditLog
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client, OptOut
from proirp.comms.inbox.incidents import realert_due
from proirp.comms.inbox.media import stalled
from proirp.comms.inbox.models import InboxSettings, MessageMedia, MessageRead, UrgentIncident
from proirp.comms.inbox.practice import DAYS, inbox_practice
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.factories import Staff, create_client, create_staff, sent_from

PRACTICE_NUMBER = "+15005550006"
INBOUND_PATH = "/webhooks/twilio/inbound"
PHONE = "+12025550143"
SAFETY = "If you are in danger, call or text 988. We will read your message."
AFTER_HOURS = "We are closed; we will answer when we open."
ON_CALL = "on-call@example.com"


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid4().hex


def signed_post(api: TestClient, settings: Settings, path: str, params: dict[str, str]) -> Any:
    """Post a form as Twilio does: form-encoded and signed with the account's token."""
    token = settings.twilio_connection().auth_token
    signature = RequestValidator(token).compute_signature(settings.base_url + path, params)
    return api.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def inbound(
    api: TestClient,
    settings: Settings,
    body: str,
    *,
    phone: str = PHONE,
    sid: str | None = None,
    extra: dict[str, str] | None = None,
) -> Any:
    """Post an inbound SMS to the product as Twilio does; it must be taken (200)."""
    params = {
        "MessageSid": sid or new_sid(),
        "From": phone,
        "To": PRACTICE_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **(extra or {}),
    }
    answer = signed_post(api, settings, INBOUND_PATH, params)
    assert answer.status_code == 200, answer.text
    return answer


def office(db: Session, *, is_open: bool, **overrides: Any) -> None:
    """The practice's inbox settings: open all day every day, or never."""
    hours = {day: {"start": "00:00", "end": "23:59"} for day in DAYS} if is_open else {}
    db.merge(
        InboxSettings(
            id="practice",
            timezone="UTC",
            office_hours=hours,
            safety_reply=SAFETY,
            after_hours_reply=AFTER_HOURS,
            urgent_phrases=overrides.get("urgent_phrases", []),
            on_call_email=overrides.get("on_call_email", ON_CALL),
            realert_minutes=15,
            realert_limit=overrides.get("realert_limit", 4),
        )
    )
    db.flush()


@pytest.fixture
def client(db: Session) -> Client:
    row = create_client(db, phone=PHONE)
    row.sms_consent = True
    db.flush()
    return row


def inbound_rows(db: Session, phone: str = PHONE) -> list[Communication]:
    db.expire_all()
    stmt = (
        select(Communication)
        .where(Communication.direction == "inbound", sent_from(db, phone))
        .order_by(Communication.created_at)
    )
    return list(db.scalars(stmt))


def replies(db: Session, purpose: str) -> list[Communication]:
    db.expire_all()
    return list(db.scalars(select(Communication).where(Communication.purpose == purpose)))


def actions(db: Session, action: str) -> list[dict[str, Any]]:
    rows = db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
    return [dict(row.details) for row in rows]


# --- stored once, matched by phone ---------------------------------------------------------------


def test_an_inbound_text_is_stored_once_however_often_twilio_retries(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    sid = new_sid()
    for _ in range(3):
        inbound(api, settings, "Running ten minutes late", sid=sid)
    (row,) = inbound_rows(db)
    assert (row.client_id, row.status, row.provider_message_id) == (client.id, "received", sid)
    assert row.body == "Running ten minutes late"
    assert row.user_id is None and row.to_address == PRACTICE_NUMBER
    received = actions(db, "SMS_RECEIVED")
    assert [r["communication_id"] for r in received] == [row.id]
    assert "Running" not in str(received)


def test_the_body_is_encrypted_at_rest(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    inbound(api, settings, "My new address is 12 Elm Street")
    (row,) = inbound_rows(db)
    raw = db.execute(
        text("SELECT body FROM communications WHERE id = :id"), {"id": row.id}
    ).scalar_one()
    assert "Elm" not in str(raw)


def test_a_family_number_and_an_unknown_number_wait_for_staff_to_attach(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    sibling = create_client(db, first_name="Blake", phone=PHONE)
    stranger = "+12025550177"
    inbound(api, settings, "Hi, this is Blake")
    inbound(api, settings, "Hello? New here", phone=stranger)
    (shared,) = inbound_rows(db)
    (unknown,) = inbound_rows(db, stranger)
    assert shared.client_id is None and unknown.client_id is None

    listed = api.get("/inbox/unmatched", headers=staff.headers).json()["messages"]
    by_number = {m["number"]: m for m in listed}
    assert by_number[PHONE]["candidates"] == [client.id, sibling.id]
    assert by_number[stranger]["candidates"] == []
    assert "Blake" not in str(listed)  # the list shows no text

    attached = api.post(
        f"/inbox/{shared.id}/attach", json={"client_id": sibling.id}, headers=staff.headers
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["attached"] == [shared.id]
    thread = api.get(f"/clients/{sibling.id}/messages", headers=staff.headers).json()
    assert [m["body"] for m in thread["messages"]] == ["Hi, this is Blake"]
    again = api.post(
        f"/inbox/{shared.id}/attach", json={"client_id": client.id}, headers=staff.headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_attached"
    nobody = api.post(
        f"/inbox/{unknown.id}/attach", json={"client_id": "0" * 32}, headers=staff.headers
    )
    assert nobody.status_code == 422 and "client_id" in nobody.json()["error"]["fields"]
    assert actions(db, "INBOUND_ATTACHED")[0]["communication_ids"] == [shared.id]


def test_attaching_every_message_from_a_number_at_once(
    api: TestClient, db: Session, settings: Settings, staff: Staff
) -> None:
    office(db, is_open=True)
    stranger = "+12025550178"
    for words in ("one", "two", "three"):
        inbound(api, settings, words, phone=stranger)
    new = create_client(db, phone=stranger)
    first = inbound_rows(db, stranger)[0]
    answer = api.post(
        f"/inbox/{first.id}/attach",
        json={"client_id": new.id, "all_from_number": True},
        headers=staff.headers,
    )
    assert len(answer.json()["attached"]) == 3
    assert {row.client_id for row in inbound_rows(db, stranger)} == {new.id}


# --- threads and reads ---------------------------------------------------------------------------


def test_the_thread_holds_both_directions_oldest_first_and_each_read_is_audited(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    sent = api.post(
        "/comms",
        json={"client_id": client.id, "type": "sms", "body": "Please call our office."},
        headers=staff.headers,
    )
    assert sent.status_code == 202, sent.text
    inbound(api, settings, "Will do, thanks")
    answer = api.get(f"/clients/{client.id}/messages", headers=staff.headers)
    assert answer.status_code == 200, answer.text
    messages = answer.json()["messages"]
    assert [(m["direction"], m["body"]) for m in messages] == [
        ("outbound", "Please call our office."),
        ("inbound", "Will do, thanks"),
    ]
    assert messages[0]["status"] == "queued" and messages[0]["read"] is None
    assert messages[1]["status"] == "received" and messages[1]["read"] is False
    viewed = actions(db, "MESSAGE_VIEWED")
    assert viewed[-1]["communication_ids"] == [m["id"] for m in messages]
    assert "thanks" not in str(viewed)

    one = api.get(f"/comms/{messages[1]['id']}", headers=staff.headers).json()["communication"]
    assert one["body"] == "Will do, thanks" and one["from"] == PHONE
    assert one["events"][0]["status"] == "received"
    assert actions(db, "MESSAGE_VIEWED")[-1] == {"communication_id": messages[1]["id"]}


def test_a_long_thread_pages_backwards_from_the_newest(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    start = datetime.now(UTC).replace(microsecond=0)
    for n in range(5):
        with set_clock(start + timedelta(seconds=n)):
            inbound(api, settings, f"message {n}")
    first = api.get(f"/clients/{client.id}/messages?limit=2", headers=staff.headers).json()
    assert [m["body"] for m in first["messages"]] == ["message 3", "message 4"]
    second = api.get(
        f"/clients/{client.id}/messages?limit=2&cursor={first['next_cursor']}",
        headers=staff.headers,
    ).json()
    assert [m["body"] for m in second["messages"]] == ["message 1", "message 2"]


def test_read_state_is_each_users_own(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    front_desk, clinician = create_staff(db, role="staff"), create_staff(db, role="clinician")
    db.add(CareTeamMember(client_id=client.id, user_id=clinician.user.id))
    start = datetime.now(UTC).replace(microsecond=0)
    for n in range(3):
        with set_clock(start + timedelta(seconds=n)):
            inbound(api, settings, f"message {n}")
    rows = inbound_rows(db)
    # Reading the second marks it and the one before it, not the newest.
    answer = api.post(f"/inbox/{rows[1].id}/read", headers=front_desk.headers)
    assert answer.json() == {"ok": True, "read": 2}

    def unread(staff: Staff) -> int:
        (mine,) = api.get("/inbox", headers=staff.headers).json()["conversations"]
        assert mine["client_id"] == client.id
        return int(mine["unread"])

    assert (unread(front_desk), unread(clinician)) == (1, 3)
    api.post(f"/inbox/{rows[2].id}/read", headers=clinician.headers)
    assert (unread(front_desk), unread(clinician)) == (1, 0)
    assert db.scalar(select(func.count()).select_from(MessageRead)) == 5
    missing = api.post(f"/inbox/{'0' * 32}/read", headers=front_desk.headers)
    assert missing.status_code == 404


def test_the_inbox_puts_urgent_then_unread_conversations_first(
    api: TestClient, db: Session, settings: Settings, staff: Staff
) -> None:
    office(db, is_open=True)
    calm = create_client(db, phone="+12025550181")
    quiet = create_client(db, phone="+12025550182")
    worried = create_client(db, phone="+12025550183")
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start):
        inbound(api, settings, "See you soon", phone="+12025550182")
    api.post(f"/inbox/{inbound_rows(db, '+12025550182')[0].id}/read", headers=staff.headers)
    with set_clock(start + timedelta(seconds=1)):
        inbound(api, settings, "I want to end my life", phone="+12025550183")
    with set_clock(start + timedelta(seconds=2)):
        inbound(api, settings, "Can I move Tuesday?", phone="+12025550181")
    listed = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert [(c["client_id"], c["urgent"]) for c in listed] == [
        (worried.id, True),
        (calm.id, False),
        (quiet.id, False),
    ]
    assert [c["unread"] for c in listed] == [1, 1, 0]


# --- urgent language -----------------------------------------------------------------------------


def test_urgent_language_sends_the_safety_reply_once_and_alerts_without_the_text(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    sid = new_sid()
    inbound(api, settings, "I can't do this anymore, I want to kill myself", sid=sid)
    inbound(api, settings, "I can't do this anymore, I want to kill myself", sid=sid)  # retry
    inbound(api, settings, "please answer, I'm going to hurt myself")  # joins the incident
    (reply,) = replies(db, "safety_reply")
    assert (reply.to_address, reply.body, reply.status) == (PHONE, SAFETY, "queued")
    assert reply.client_id == client.id and reply.user_id is None
    (alert,) = replies(db, "urgent_alert")
    assert alert.to_address == ON_CALL and alert.channel == "email"
    for secret in ("kill", "hurt", client.first_name, client.last_name, PHONE):
        assert secret not in alert.body and secret not in (alert.subject or "")
    assert f"{settings.base_url}/app/inbox\n" in alert.body  # the page, not the API
    (incident,) = db.scalars(select(UrgentIncident)).all()
    assert (incident.messages, incident.alerts_sent, incident.acknowledged_at) == (2, 1, None)
    assert [d["joined"] for d in actions(db, "URGENT_MESSAGE_RECEIVED")] == [False, True]
    assert len(actions(db, "URGENT_ALERT_SENT")) == 1

    api.get(f"/clients/{client.id}/messages", headers=staff.headers)
    db.expire_all()
    assert incident.acknowledged_at is not None
    assert incident.acknowledged_by_user_id == staff.user.id
    assert actions(db, "URGENT_ACKNOWLEDGED")[0]["incident_id"] == incident.id
    listed = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert listed[0]["urgent"] is False
    # A new urgent message after staff have seen the last: a new incident, a new safety reply.
    inbound(api, settings, "I still want to die")
    assert len(replies(db, "safety_reply")) == 2


def test_a_client_without_sms_consent_still_gets_the_safety_reply_but_not_after_stop(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    client.sms_consent = False
    db.flush()
    inbound(api, settings, "thinking about suicide")
    (reply,) = replies(db, "safety_reply")
    assert reply.status == "queued"  # they wrote to us: this is the answer
    db.add(OptOut(channel="sms", address="+12025550190", reason="replied STOP", source="test"))
    db.flush()
    inbound(api, settings, "thinking about suicide", phone="+12025550190")
    blocked = [r for r in replies(db, "safety_reply") if r.to_address == "+12025550190"]
    assert [r.status for r in blocked] == ["blocked"]


def test_urgent_alerts_repeat_every_15_minutes_until_opened_up_to_the_limit(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True, realert_limit=3)
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start) as clock:
        inbound(api, settings, "I am going to kill myself tonight")
        practice = inbox_practice(db, settings)
        assert realert_due(db, practice, settings) == 0  # the first went at once
        clock.advance(timedelta(minutes=14, seconds=59))
        assert realert_due(db, practice, settings) == 0
        clock.advance(timedelta(seconds=1))
        assert realert_due(db, practice, settings) == 1
        assert realert_due(db, practice, settings) == 0  # not twice for one due time
        clock.advance(timedelta(minutes=15))
        assert realert_due(db, practice, settings) == 1
        clock.advance(timedelta(hours=2))
        assert realert_due(db, practice, settings) == 0  # the limit: 3 alerts
    assert len(replies(db, "urgent_alert")) == 3
    assert [d["alert"] for d in actions(db, "URGENT_ALERT_SENT")] == [1, 2, 3]


def test_opening_the_conversation_stops_the_alerts(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start) as clock:
        inbound(api, settings, "self harm again")
        (message,) = inbound_rows(db)
        api.post(f"/inbox/{message.id}/read", headers=staff.headers)
        clock.advance(timedelta(minutes=30))
        assert realert_due(db, inbox_practice(db, settings), settings) == 0
    assert len(replies(db, "urgent_alert")) == 1


def test_without_an_on_call_address_the_alert_is_audited_as_not_sent(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True, on_call_email=None)
    inbound(api, settings, "i want to die")
    assert replies(db, "urgent_alert") == []
    (unsent,) = actions(db, "URGENT_ALERT_NOT_SENT")
    assert "on-call" in unsent["reason"]
    assert len(replies(db, "safety_reply")) == 1


def test_an_unmatched_number_with_urgent_language_is_urgent_too(
    api: TestClient, db: Session, settings: Settings, staff: Staff
) -> None:
    office(db, is_open=True)
    stranger = "+12025550179"
    inbound(api, settings, "Suicidal. Please help", phone=stranger)
    (conversation,) = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert (conversation["number"], conversation["urgent"]) == (stranger, True)
    (message,) = inbound_rows(db, stranger)
    assert api.get(f"/comms/{message.id}", headers=staff.headers).status_code == 200
    (conversation,) = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert conversation["urgent"] is False


def test_a_practice_phrase_is_urgent_and_everyday_words_are_not(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True, urgent_phrases=["give up on everything"])
    inbound(api, settings, "I'm killing it at work, see you Tuesday")
    inbound(api, settings, "That movie was to die for")
    assert replies(db, "safety_reply") == []
    inbound(api, settings, "I just want to GIVE UP on everything")
    assert len(replies(db, "safety_reply")) == 1


# --- after hours ---------------------------------------------------------------------------------


def test_after_hours_reply_at_most_once_per_number_per_12_hours(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=False)
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start) as clock:
        inbound(api, settings, "Can I move my appointment?")
        clock.advance(timedelta(hours=1))
        inbound(api, settings, "Hello?")
        clock.advance(timedelta(hours=10, minutes=59))
        inbound(api, settings, "Anyone there?")
    (reply,) = replies(db, "after_hours_reply")
    assert (reply.to_address, reply.body) == (PHONE, AFTER_HOURS)
    with set_clock(start + timedelta(hours=12, minutes=1)):
        inbound(api, settings, "Good morning")
    assert len(replies(db, "after_hours_reply")) == 2


def test_no_after_hours_reply_in_office_hours_nor_to_keywords(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    inbound(api, settings, "Thanks!")
    office(db, is_open=False)
    inbound(api, settings, "HELP")
    inbound(api, settings, "STOP")
    assert replies(db, "after_hours_reply") == []
    assert len(inbound_rows(db)) == 3  # every text is kept, keywords too


def test_office_hours_follow_the_practice_time_zone(db: Session, settings: Settings) -> None:
    db.merge(
        InboxSettings(
            id="practice",
            timezone="America/New_York",
            office_hours={"mon": {"start": "09:00", "end": "17:00"}},
            safety_reply=SAFETY,
            after_hours_reply=AFTER_HOURS,
            urgent_phrases=[],
            on_call_email=None,
            realert_minutes=15,
            realert_limit=4,
        )
    )
    practice = inbox_practice(db, settings)
    monday = datetime(2030, 1, 14, tzinfo=UTC)
    assert not practice.is_open(monday + timedelta(hours=13, minutes=59))  # 08:59 in New York
    assert practice.is_open(monday + timedelta(hours=14))  # 09:00
    assert not practice.is_open(monday + timedelta(hours=22))  # 17:00
    assert not practice.is_open(monday + timedelta(days=1, hours=15))  # Tuesday: closed


# --- settings and media --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text", "why"),
    [
        ("after_hours_reply", "Hi {{ client.first_name }}, we are closed.", "placeholder"),
        ("safety_reply", "Call 988 now, {{ client.first_name }}.", "placeholder"),
        ("after_hours_reply", "We open {when}.", "placeholder"),
        ("after_hours_reply", "We will discuss your depression diagnosis on Monday.", "clinical"),
    ],
)
def test_an_automatic_reply_is_sent_as_written_so_holds_no_placeholder_nor_clinical_words(
    api: TestClient, db: Session, field: str, text: str, why: str
) -> None:
    """Each goes to whoever texts the number, as it is written: a placeholder reached clients
    as braces, and clinical words reached numbers nobody had matched."""
    admin = create_staff(db, role="admin")
    refused = api.put("/inbox/settings", json={field: text}, headers=admin.headers)
    assert refused.status_code == 422, refused.text
    assert list(refused.json()["error"]["fields"]) == [field]
    assert why in refused.json()["error"]["fields"][field]
    assert api.get("/inbox/settings", headers=admin.headers).json()["settings"][field] != text
    # Office hours, a time and the crisis line's own words are what such replies say.
    fine = {
        "after_hours_reply": "We are closed. We open at 9:00 am on Monday, 12 Main Street. "
        "In a crisis, call or text the 988 Suicide & Crisis Lifeline.",
        "safety_reply": "If you are thinking about suicide, call or text 988 now.",
    }
    assert api.put("/inbox/settings", json=fine, headers=admin.headers).status_code == 200


def test_admins_set_the_inbox_settings_and_others_cannot(
    api: TestClient, db: Session, settings: Settings
) -> None:
    admin = create_staff(db, role="admin")
    before = api.get("/inbox/settings", headers=admin.headers).json()["settings"]
    assert before["realert_minutes"] == 15 and "988" in before["safety_reply"]
    changed = api.put(
        "/inbox/settings",
        json={
            "office_hours": {"sat": {"start": "10:00", "end": "14:00"}},
            "urgent_phrases": ["give up on everything"],
            "on_call_email": "Duty.Phone@Example.com",
        },
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()["settings"]
    assert after["office_hours"] == {"sat": {"start": "10:00", "end": "14:00"}}
    assert after["on_call_email"] == "Duty.Phone@example.com"
    assert after["safety_reply"] == before["safety_reply"]
    bad = api.put(
        "/inbox/settings",
        json={"office_hours": {"mon": {"start": "17:00", "end": "09:00"}}},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and "office_hours.mon" in str(bad.json()["error"]["fields"])
    zone = api.put("/inbox/settings", json={"timezone": "Mars/Base"}, headers=admin.headers)
    assert zone.status_code == 422 and "timezone" in zone.json()["error"]["fields"]
    front_desk = create_staff(db, role="staff")
    assert api.get("/inbox/settings", headers=front_desk.headers).status_code == 403
    assert actions(db, "INBOX_SETTINGS_CHANGED")[0]["changed"] == [
        "office_hours",
        "on_call_email",
        "urgent_phrases",
    ]


def test_mms_media_is_recorded_and_waits_for_the_worker(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    media_url = (
        "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0123456789abcdef"
    )
    inbound(
        api,
        settings,
        "",
        sid=new_sid("MM"),
        extra={"NumMedia": "1", "MediaUrl0": media_url, "MediaContentType0": "image/jpeg"},
    )
    (row,) = inbound_rows(db)
    (media,) = db.scalars(select(MessageMedia).where(MessageMedia.communication_id == row.id))
    assert (media.content_type, media.fetched_at, media.content) == ("image/jpeg", None, None)
    raw_url = db.execute(
        text("SELECT url FROM message_media WHERE id = :id"), {"id": media.id}
    ).scalar_one()
    assert "twilio.com" not in str(raw_url)  # where the picture is, kept encrypted too
    (shown,) = api.get(f"/clients/{client.id}/messages", headers=staff.headers).json()["messages"]
    assert shown["media"] == [
        {
            "id": media.id,
            "content_type": "image/jpeg",
            "size": None,
            "state": "pending",
            "failed_reason": None,
        }
    ]
    waiting = api.get(f"/comms/{row.id}/media/{media.id}", headers=staff.headers)
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "media_not_ready"


def test_a_media_field_that_does_not_fit_costs_the_media_not_the_text(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    inbound(
        api,
        settings,
        "I want to kill myself",
        sid=new_sid("MM"),
        extra={
            "NumMedia": "1",
            "MediaContentType0": "not a type",
            "MediaUrl0": "https://api.twilio.com/x",
        },
    )
    (row,) = inbound_rows(db)
    (media,) = db.scalars(select(MessageMedia).where(MessageMedia.communication_id == row.id))
    assert media.failed_reason is not None and "MediaContentType0" in media.failed_reason
    assert len(replies(db, "safety_reply")) == 1  # the crisis text still got its answer


def test_a_sender_that_cannot_be_a_number_is_refused_naming_from(
    api: TestClient, db: Session, settings: Settings
) -> None:
    for sender in ("+1" + "2" * 60, ""):
        params = {"MessageSid": new_sid(), "From": sender, "To": PRACTICE_NUMBER, "Body": "hi"}
        answer = signed_post(api, settings, INBOUND_PATH, params)
        assert answer.status_code == 400, answer.text
        assert "From" in answer.json()["error"]["fields"]


def test_a_retried_help_is_answered_again_and_a_retried_stop_acts_once(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    sid = new_sid()
    first = inbound(api, settings, "HELP", sid=sid)
    again = inbound(api, settings, "HELP", sid=sid)  # our first answer never reached Twilio
    assert "<Message>" in first.text and again.text == first.text
    stop = new_sid()
    inbound(api, settings, "STOP", sid=stop)
    inbound(api, settings, "STOP", sid=stop)
    assert len(actions(db, "SMS_OPT_OUT")) == 1
    assert len(actions(db, "SMS_HELP")) == 1


def test_reading_an_earlier_message_leaves_a_later_urgent_one_open(
    api: TestClient, db: Session, settings: Settings, client: Client, staff: Staff
) -> None:
    office(db, is_open=True)
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start):
        inbound(api, settings, "see you tuesday")
    with set_clock(start + timedelta(seconds=5)):
        inbound(api, settings, "I want to kill myself")
    older, _urgent = inbound_rows(db)
    api.post(f"/inbox/{older.id}/read", headers=staff.headers)
    api.get(f"/comms/{older.id}", headers=staff.headers)
    (incident,) = db.scalars(select(UrgentIncident)).all()
    db.refresh(incident)
    assert incident.acknowledged_at is None
    (conversation,) = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert conversation["urgent"] is True
    # A page of the thread that stops before the urgent message does not open it either.
    api.get(f"/clients/{client.id}/messages?limit=1", headers=staff.headers)  # the newest
    db.refresh(incident)
    assert incident.acknowledged_at is not None


def test_an_urgent_number_attached_to_a_client_is_opened_from_the_clients_thread(
    api: TestClient, db: Session, settings: Settings, staff: Staff
) -> None:
    office(db, is_open=True)
    stranger = "+12025550191"
    start = datetime.now(UTC).replace(microsecond=0)
    with set_clock(start):
        inbound(api, settings, "I want to die", phone=stranger)
    with set_clock(start + timedelta(seconds=1)):
        inbound(api, settings, "hello?", phone=stranger)
    new = create_client(db, phone=stranger)
    first, second = inbound_rows(db, stranger)
    api.post(
        f"/inbox/{first.id}/attach",
        json={"client_id": new.id, "all_from_number": True},
        headers=staff.headers,
    )
    listed = api.get("/inbox", headers=staff.headers).json()["conversations"]
    assert [(c["client_id"], c["urgent"]) for c in listed] == [(new.id, True)]
    assert api.post(f"/inbox/{second.id}/read", headers=staff.headers).json()["read"] == 2
    (incident,) = db.scalars(select(UrgentIncident)).all()
    db.refresh(incident)
    assert incident.acknowledged_at is not None
    assert api.get("/inbox", headers=staff.headers).json()["conversations"][0]["urgent"] is False


def test_a_deleted_clients_thread_can_still_be_opened(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    admin = create_staff(db, role="admin")
    inbound(api, settings, "I want to kill myself")
    assert api.delete(f"/clients/{client.id}", headers=admin.headers).status_code == 200
    thread = api.get(f"/clients/{client.id}/messages", headers=admin.headers)
    assert thread.status_code == 200, thread.text
    assert thread.json()["messages"][0]["body"] == "I want to kill myself"
    assert api.get("/inbox", headers=admin.headers).json()["conversations"][0]["urgent"] is False


def test_odd_settings_and_cursors_are_refused_naming_the_field(
    api: TestClient, db: Session
) -> None:
    admin = create_staff(db, role="admin")
    for zone in ("America", "posixrules", "Mars/Base"):
        answer = api.put("/inbox/settings", json={"timezone": zone}, headers=admin.headers)
        assert answer.status_code == 422, (zone, answer.text)
        assert "timezone" in answer.json()["error"]["fields"]
    for cursor in ("\u00b2", "-1", "abc", "1" * 12):
        answer = api.get("/inbox", params={"cursor": cursor}, headers=admin.headers)
        assert answer.status_code == 422, (cursor, answer.text)
    api.put("/inbox/settings", json={"on_call_email": ON_CALL}, headers=admin.headers)
    cleared = api.put("/inbox/settings", json={"on_call_email": ""}, headers=admin.headers)
    assert cleared.json()["settings"]["on_call_email"] is None


def test_a_status_callback_never_moves_an_inbound_message(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    sid = new_sid()
    inbound(api, settings, "hello", sid=sid)
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30008"}
    signed_post(api, settings, "/webhooks/twilio/status", params)
    (row,) = inbound_rows(db)
    assert row.status == "received"


def test_media_whose_fetch_was_lost_is_found_again(
    api: TestClient, db: Session, settings: Settings, client: Client
) -> None:
    office(db, is_open=True)
    start = datetime.now(UTC).replace(microsecond=0)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0"
    with set_clock(start):
        inbound(
            api,
            settings,
            "",
            sid=new_sid("MM"),
            extra={"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"},
        )
    (row,) = inbound_rows(db)
    assert stalled(db, now=start + timedelta(minutes=19)) == []
    assert stalled(db, now=start + timedelta(minutes=21)) == [row.id]
