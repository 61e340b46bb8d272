"""What the clients and inbox tests share: clients made through the API, a client texting the
practice through the sandbox the product mounts (the signed webhook Twilio would send), and a
marker that tells whether the browser loaded the page again."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy import select

from proirp.audit.models import AuditLog
from proirp.config.sandbox_credentials import (
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
    SANDBOX_TWILIO_FROM,
)
from tests.live import LiveStack

MARKER = "window.__sameDocument"


def add_client(live: LiveStack, **fields: Any) -> str:
    """A client through POST /clients (consent to both channels unless told otherwise)."""
    body = {
        "first_name": "Avery",
        "last_name": "Quinn",
        "sms_consent": True,
        "email_consent": True,
        "consent_source": "intake form",
        **fields,
    }
    with live.api() as api:
        answer = api.post("/clients", json=body)
    assert answer.status_code == 201, answer.text
    client_id: str = answer.json()["client"]["id"]
    return client_id


def client_texts(
    live: LiveStack, phone: str, body: str, media: list[tuple[str, bytes]] | None = None
) -> str:
    """The client at `phone` texts the practice (with `media`: an MMS of (content type, bytes));
    the product must answer the webhook 200. Returns the message's Twilio SID."""
    payload: dict[str, Any] = {"from": phone, "to": SANDBOX_TWILIO_FROM, "body": body}
    if media:
        payload["media"] = [
            {"content_type": kind, "content_base64": base64.b64encode(content).decode()}
            for kind, content in media
        ]
    with httpx.Client(
        base_url=f"{live.app_url}/sandbox/twilio",
        auth=(SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN),
        timeout=30,
    ) as sandbox:
        answer = sandbox.post("/_sandbox/inbound", json=payload)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["status"] == 200, result
    sid: str = result["message_sid"]
    return sid


def mark_document(page: Any) -> None:
    """Mark the loaded document: `same_document` is true until the browser loads a page again."""
    page.evaluate(f"{MARKER} = true")


def same_document(page: Any) -> bool:
    return bool(page.evaluate(f"{MARKER} === true"))


def audit_rows_after(live: LiveStack, last_id: int) -> list[AuditLog]:
    with live.session() as session:
        return list(
            session.scalars(select(AuditLog).where(AuditLog.id > last_id).order_by(AuditLog.id))
        )


def last_audit_id(live: LiveStack) -> int:
    with live.session() as session:
        found = session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    return int(found or 0)
