"""The inbox end to end: a client's SMS or MMS goes from the sandbox's Twilio to the product as
the signed webhook Twilio sends; the worker fetches MMS media through the Twilio SDK and sends
the automatic replies through the sandbox's Twilio, and the urgent alert through its SendGrid.
Nothing is patched: every check reads the product's API, its database or the sandbox's ledgers.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import select, text

from proirp.audit.models import AuditLog
from proirp.comms.inbox.models import MessageMedia
from proirp.comms.models import Communication, Direction, Purpose
from proirp.kit.crypto import current_vault
from tests.comms.conftest import FINAL, add_client
from tests.factories import sent_from, sent_to
from tests.live import SANDBOX_FROM, LiveStack, wait_until

ON_CALL = "on-call@lakeside.example.com"
SAFETY_REPLY = "Lakeside test safety reply: if you are in danger call or text 988, or call 911."
AFTER_HOURS_REPLY = "Lakeside test after-hours reply: we will read your message tomorrow."
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module", autouse=True)
def inbox_settings(live: LiveStack) -> dict[str, Any]:
    """The practice's inbox settings for the whole module, through the admin API: the office is
    always closed (no day has hours), so no test depends on the time of day, and the safety
    reply and on-call address are the module's own."""
    with live.api() as api:
        response = api.put(
            "/inbox/settings",
            json={
                "office_hours": dict.fromkeys(DAYS),
                "safety_reply": SAFETY_REPLY,
                "after_hours_reply": AFTER_HOURS_REPLY,
                "on_call_email": ON_CALL,
            },
        )
    assert response.status_code == 200, response.text
    saved: dict[str, Any] = response.json()["settings"]
    assert saved["office_hours"] == {}
    assert saved["on_call_email"] == ON_CALL
    return saved


# --- helpers -------------------------------------------------------------------------------


def png_bytes() -> bytes:
    """A valid 2x2 RGB PNG, built by hand (its chunks' CRCs and all)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    rows = b"\x00\xff\x00\x00\x00\xff\x00" + b"\x00\x00\x00\xff\xff\xff\xff"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def inbound(
    live: LiveStack, phone: str, body: str, media: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    """A client texts the practice; the sandbox posts the signed webhook and reports the app's
    answer, which must be a 200 (Twilio would retry anything else)."""
    payload: dict[str, Any] = {"from": phone, "to": SANDBOX_FROM, "body": body}
    if media:
        payload["media"] = [
            {"content_type": kind, "content_base64": base64.b64encode(content).decode()}
            for kind, content in media
        ]
    with live.sandbox() as sandbox:
        answer = sandbox.post("/_sandbox/inbound", json=payload)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["status"] == 200, result
    assert result["message_sid"].startswith(("SM", "MM"))
    return result


def retry(live: LiveStack, message_sid: str) -> dict[str, Any]:
    """Twilio delivers the same webhook again (same MessageSid, same signature)."""
    with live.sandbox() as sandbox:
        answer = sandbox.post(f"/_sandbox/inbound/{message_sid}/retry")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["status"] == 200, result
    assert result["message_sid"] == message_sid
    return result


def inbound_rows(live: LiveStack, message_sid: str) -> list[Communication]:
    with live.session() as session:
        stmt = select(Communication).where(
            Communication.direction == Direction.INBOUND,
            Communication.provider_message_id == message_sid,
        )
        return list(session.scalars(stmt))


def the_inbound_row(live: LiveStack, message_sid: str) -> Communication:
    [row] = inbound_rows(live, message_sid)
    return row


def raw_column(live: LiveStack, table: str, column: str, row_id: str) -> str:
    """A column as the database holds it, read with plain SQL (no EncryptedText to decrypt)."""
    with live.engine.connect() as connection:
        value = connection.execute(
            text(f"SELECT {column} FROM {table} WHERE id = :id"),
            {"id": row_id},
        ).scalar_one()
    assert isinstance(value, str), value
    return value


def thread(live: LiveStack, client_id: str) -> list[dict[str, Any]]:
    with live.api() as api:
        response = api.get(f"/clients/{client_id}/messages")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def conversations(live: LiveStack) -> list[dict[str, Any]]:
    with live.api() as api:
        response = api.get("/inbox")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["conversations"]
    return found


def unmatched(live: LiveStack) -> list[dict[str, Any]]:
    with live.api() as api:
        response = api.get("/inbox/unmatched")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["messages"]
    return found


def audit_rows(live: LiveStack, action: str, communication_id: str) -> list[AuditLog]:
    with live.session() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
    return [row for row in rows if row.details.get("communication_id") == communication_id]


def outbound_to(live: LiveStack, phone: str) -> list[Communication]:
    with live.session() as session:
        stmt = select(Communication).where(
            Communication.direction == Direction.OUTBOUND, sent_to(session, "sms", phone)
        )
        return list(session.scalars(stmt))


def settled(live: LiveStack, phone: str, count: int) -> list[Communication]:
    """Wait until `count` outbound messages to `phone` exist and the worker has finished with
    every one of them (each in a final status); returns them."""
    found: list[Communication] = []

    def done() -> bool:
        found[:] = outbound_to(live, phone)
        return len(found) >= count and all(c.status in FINAL for c in found)

    assert wait_until(done, timeout=40, interval=0.2), [(c.purpose, c.status) for c in found]
    return found


def sms_ledger_to(live: LiveStack, phone: str) -> list[dict[str, Any]]:
    return [message for message in live.ledger() if message["to"] == phone]


# --- tests ---------------------------------------------------------------------------------


def test_an_mms_is_stored_its_media_fetched_by_the_worker_and_kept_encrypted(
    live: LiveStack,
) -> None:
    phone = "+12025550301"
    client_id = add_client(live, phone, first_name="Morgan", last_name="Ellery")
    picture = png_bytes()
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Morgan Ellery\r\nTEL:+12025550301\r\nEND:VCARD\r\n"
    body = "Here is my new insurance card and my contact card"
    sid = inbound(live, phone, body, [("image/png", picture), ("text/vcard", card)])["message_sid"]

    # Stored at once, attached to the client, with a media row per attachment and its type.
    row = the_inbound_row(live, sid)
    assert (row.client_id, row.status, row.from_address) == (client_id, "received", phone)
    assert row.body == body
    with live.session() as session:
        rows = session.scalars(
            select(MessageMedia)
            .where(MessageMedia.communication_id == row.id)
            .order_by(MessageMedia.position)
        ).all()
    assert [(m.position, m.content_type) for m in rows] == [(0, "image/png"), (1, "text/vcard")]

    # The worker fetches both through the Twilio SDK; the thread shows them fetched.
    media: list[dict[str, Any]] = []

    def fetched() -> bool:
        [message] = [m for m in thread(live, client_id) if m["id"] == row.id]
        media[:] = message["media"]
        return len(media) == 2 and all(m["state"] == "fetched" for m in media)

    assert wait_until(fetched, timeout=30, interval=0.3), media
    assert [(m["content_type"], m["size"]) for m in media] == [
        ("image/png", len(picture)),
        ("text/vcard", len(card)),
    ]
    assert [m["id"] for m in media] == [m.id for m in rows]

    # Staff get exactly the bytes: a picture inline with its type, anything else as a download.
    with live.api() as api:
        shown = api.get(f"/comms/{row.id}/media/{media[0]['id']}")
        saved = api.get(f"/comms/{row.id}/media/{media[1]['id']}")
    assert shown.status_code == 200, shown.text
    assert shown.content == picture
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"] == "inline"
    assert saved.status_code == 200, saved.text
    assert saved.content == card
    assert saved.headers["content-type"] == "application/octet-stream"
    assert saved.headers["content-disposition"] == "attachment"
    viewed = audit_rows(live, "MESSAGE_VIEWED", row.id)
    assert {r.details.get("media_id") for r in viewed} >= {media[0]["id"], media[1]["id"]}

    # At rest: neither the bytes, nor their base64, nor the text is in the database in clear;
    # what is there is the vault's ciphertext of the base64.
    for item, content in zip(media, (picture, card), strict=True):
        stored = raw_column(live, "message_media", "content", item["id"])
        plain_base64 = base64.b64encode(content).decode()
        assert plain_base64 not in stored
        assert plain_base64[:24] not in stored
        assert content.decode("latin-1") not in stored
        assert current_vault().decrypt(stored) == plain_base64
    assert "IHDR" not in raw_column(live, "message_media", "content", media[0]["id"])
    assert "VCARD" not in raw_column(live, "message_media", "content", media[1]["id"])
    stored_url = raw_column(live, "message_media", "url", media[0]["id"])
    assert sid not in stored_url and "/Media/" not in stored_url
    stored_body = raw_column(live, "communications", "body", row.id)
    assert body not in stored_body and "insurance" not in stored_body
    assert current_vault().decrypt(stored_body) == body


def test_a_retried_webhook_stores_and_audits_the_message_once(live: LiveStack) -> None:
    phone = "+12025550302"
    client_id = add_client(live, phone)
    first = inbound(live, phone, "Running ten minutes late, sorry!")
    sid = first["message_sid"]
    again = [retry(live, sid), retry(live, sid)]

    [row] = inbound_rows(live, sid)
    assert row.client_id == client_id
    [received] = audit_rows(live, "SMS_RECEIVED", row.id)
    assert received.client_id == client_id
    with live.session() as session:
        inbound_from_phone = session.scalars(
            select(Communication.id).where(
                Communication.direction == Direction.INBOUND, sent_from(session, phone)
            )
        ).all()
    assert inbound_from_phone == [row.id]
    # A retry answers 200 (so Twilio stops) and acts on nothing: no reply in its TwiML...
    assert all("<Message" not in str(answer["twiml"]) for answer in again)
    # ...and the office being closed, exactly one after-hours reply, sent once.
    [reply] = settled(live, phone, 1)
    assert (reply.purpose, reply.status, reply.body) == (
        Purpose.AFTER_HOURS_REPLY,
        "delivered",
        AFTER_HOURS_REPLY,
    )
    assert [m["body"] for m in sms_ledger_to(live, phone)] == [AFTER_HOURS_REPLY]
    with live.api() as api:
        shown = api.get(f"/comms/{row.id}").json()["communication"]
    assert shown["body"] == "Running ten minutes late, sorry!"


def test_urgent_language_gets_one_safety_reply_and_a_phi_free_alert(live: LiveStack) -> None:
    phone = "+12025550303"
    client_id = add_client(live, phone, first_name="Jordan", last_name="Whitfield")
    # Another client's recent, unread message: the urgent conversation must still come first.
    add_client(live, "+12025550313")
    message = "I want to kill myself"
    sid = inbound(live, phone, message)["message_sid"]
    inbound(live, "+12025550313", "Can I get a receipt for last week?")
    retry(live, sid)
    retry(live, sid)

    # The safety reply, the configured text, reaches Twilio once: one row, one ledger entry.
    [reply] = settled(live, phone, 1)
    assert (reply.purpose, reply.status, reply.client_id) == (
        Purpose.SAFETY_REPLY,
        "delivered",
        client_id,
    )
    sent = sms_ledger_to(live, phone)
    assert [m["body"] for m in sent] == [SAFETY_REPLY]
    assert [m["from"] for m in sent] == [SANDBOX_FROM]

    # The alert reaches SendGrid once, at the on-call address, without the message or who.
    alerts: list[dict[str, Any]] = []

    def alerted() -> bool:
        alerts[:] = [copy for copy in live.email_ledger() if copy["to"] == ON_CALL]
        return bool(alerts)

    assert wait_until(alerted, timeout=30, interval=0.3), "no alert reached SendGrid"
    [alert] = alerts
    assert f"{live.env['PUBLIC_BASE_URL']}/app/inbox" in alert["text"]
    content = " ".join(str(alert[key] or "") for key in ("subject", "text", "html")).casefold()
    for secret in ("kill myself", "jordan", "whitfield", phone, phone[2:], "555-0303"):
        assert secret.casefold() not in content, secret
    with live.session() as session:
        emails = session.scalars(
            select(Communication).where(Communication.purpose == Purpose.URGENT_ALERT)
        ).all()
    assert [(e.to_address, e.client_id) for e in emails] == [(ON_CALL, None)]

    # The inbox shows the conversation first, urgent, until someone opens its thread.
    first, *others = conversations(live)
    assert (first["client_id"], first["urgent"], first["unread"]) == (client_id, True, 1)
    assert not any(c["urgent"] for c in others)
    shown = thread(live, client_id)
    assert [(m["direction"], m["body"]) for m in shown] == [
        ("inbound", message),
        ("outbound", SAFETY_REPLY),
    ]
    [after] = [c for c in conversations(live) if c["client_id"] == client_id]
    assert after["urgent"] is False
    assert audit_rows(live, "URGENT_MESSAGE_RECEIVED", the_inbound_row(live, sid).id)


def test_a_shared_number_is_left_unmatched_until_staff_attach_it(live: LiveStack) -> None:
    phone = "+12025550304"
    parent = add_client(live, phone, first_name="Robin", last_name="Castillo")
    child = add_client(live, phone, first_name="Sam", last_name="Castillo")
    body = "Can we move Sam's appointment to Thursday?"
    sid = inbound(live, phone, body)["message_sid"]

    row = the_inbound_row(live, sid)
    assert row.client_id is None
    [waiting] = [m for m in unmatched(live) if m["id"] == row.id]
    assert (waiting["number"], waiting["candidates"], waiting["media"]) == (
        phone,
        [parent, child],
        0,
    )
    [conversation] = [c for c in conversations(live) if c["number"] == phone]
    assert (conversation["client_id"], conversation["candidates"]) == (None, [parent, child])
    assert row.id not in {m["id"] for m in thread(live, parent)}
    assert row.id not in {m["id"] for m in thread(live, child)}

    with live.api() as api:
        attached = api.post(f"/inbox/{row.id}/attach", json={"client_id": child})
        twice = api.post(f"/inbox/{row.id}/attach", json={"client_id": parent})
    assert attached.status_code == 200, attached.text
    assert attached.json()["attached"] == [row.id]
    assert twice.status_code == 409, twice.text

    assert the_inbound_row(live, sid).client_id == child
    [message] = [m for m in thread(live, child) if m["id"] == row.id]
    assert (message["direction"], message["body"], message["client_id"]) == (
        "inbound",
        body,
        child,
    )
    assert row.id not in {m["id"] for m in thread(live, parent)}
    assert row.id not in {m["id"] for m in unmatched(live)}
    assert not [c for c in conversations(live) if c["number"] == phone]
    with live.session() as session:
        attach_audits = session.scalars(
            select(AuditLog).where(AuditLog.action == "INBOUND_ATTACHED")
        ).all()
    assert [(r.client_id, r.actor_user_id) for r in attach_audits if row.id in str(r.details)] == [
        (child, live.user_id)
    ]


def test_a_shared_number_s_message_is_audited_against_no_single_client(live: LiveStack) -> None:
    """The message is nobody's until staff attach it, so its receipt must not be put in one
    family member's audit trail (the first client's) when it may be another's."""
    phone = "+12025550305"
    add_client(live, phone, first_name="Robin", last_name="Okafor")
    add_client(live, phone, first_name="Sam", last_name="Okafor")
    row = the_inbound_row(live, inbound(live, phone, "Is Sam's session still on?")["message_sid"])
    assert row.client_id is None
    [received] = audit_rows(live, "SMS_RECEIVED", row.id)
    assert received.client_id is None
