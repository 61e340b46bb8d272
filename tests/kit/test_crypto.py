"""The vault: encrypted columns never hold plaintext, and key rotation re-encrypts everything."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.calendars.models import CalendarIntegration, SyncedCalendarEvent
from proirp.clients.access_models import BreakGlassGrant
from proirp.clients.models import Client, OptOut
from proirp.comms.inbox.models import InboxConversation, InboxSettings, MessageMedia
from proirp.comms.models import Campaign, Communication
from proirp.key_rotation import encrypted_columns, rotate_encrypted_columns
from proirp.kit.crypto import (
    Vault,
    VaultError,
    current_vault,
    install_vault,
    load_or_create_dev_key,
)
from proirp.kit.time import utcnow
from tests.factories import create_client, create_user

SECRETS = {
    ("communications", "body"): "Your session with Dr. Rivera is at 3pm",
    ("communications", "subject"): "Appointment for Avery Quinn",
    ("calendar_integrations", "access_token"): "ya29.access-token-value",
    ("calendar_integrations", "refresh_token"): "1//refresh-token-value",
    ("synced_calendar_events", "title"): "Avery Quinn - intake",
    ("synced_calendar_events", "description"): "Discuss medication",
    ("synced_calendar_events", "location"): "Room 4",
    (
        "message_media",
        "url",
    ): "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    ("message_media", "content"): "aGVsbG8gZnJvbSBhIHBpY3R1cmU=",
    ("break_glass_grants", "reason"): "Avery Quinn called in crisis; Dr. Rivera is away",
    ("clients", "date_of_birth"): "1987-03-14",  # the date's ISO form is what is encrypted
    ("opt_outs", "address"): "+15125550187",
    ("communications", "to_address"): "avery.quinn@example.com",  # decision 0036
    ("communications", "from_address"): "frontdesk@practice.example.com",
    ("inbox_conversations", "number"): "+15125550142",
    ("users", "email"): "rivera.crypto@clinic.example.com",  # decision 0037
    ("calendar_integrations", "account_email"): "rivera.calendar@gmail.example.com",
    ("campaigns", "selection"): '{"filter":{"q":"Quinn"}}',  # its JSON, as encrypted
    ("inbox_settings", "on_call_email"): "oncall.rivera@clinic.example.com",
}


@pytest.fixture
def restore_vault() -> Iterator[None]:
    original = current_vault()
    yield
    install_vault(original)


def _store_every_secret(db: Session) -> None:
    user = create_user(db, email=SECRETS[("users", "email")])
    client = create_client(db)
    client.date_of_birth = date.fromisoformat(SECRETS[("clients", "date_of_birth")])
    comm = Communication(
        client_id=client.id,
        user_id=user.id,
        channel="email",
        to_address=SECRETS[("communications", "to_address")],
        from_address=SECRETS[("communications", "from_address")],
        subject=SECRETS[("communications", "subject")],
        body=SECRETS[("communications", "body")],
    )
    db.add(comm)
    db.add(
        Campaign(channel="sms", created_by_user_id=user.id, selection={"filter": {"q": "Quinn"}})
    )
    db.merge(
        InboxSettings(
            id="practice",
            timezone="UTC",
            office_hours={},
            safety_reply="Call 988.",
            after_hours_reply="We are closed.",
            urgent_phrases=[],
            on_call_email=SECRETS[("inbox_settings", "on_call_email")],
            realert_minutes=15,
            realert_limit=4,
        )
    )
    db.add(
        OptOut(
            client_id=client.id,
            channel="sms",
            address=SECRETS[("opt_outs", "address")],
            reason="replied STOP",
            source="sms_keyword",
        )
    )
    db.flush()
    number = SECRETS[("inbox_conversations", "number")]  # a number no client has wrote in
    db.add(
        InboxConversation(
            conversation="number:x", number=number, messages=1, last_inbound_at=utcnow()
        )
    )
    db.flush()
    db.add(
        MessageMedia(
            communication_id=comm.id,
            position=0,
            content_type="image/jpeg",
            url=SECRETS[("message_media", "url")],
            content=SECRETS[("message_media", "content")],
        )
    )
    integration = CalendarIntegration(
        user_id=user.id,
        provider="google",
        access_token=SECRETS[("calendar_integrations", "access_token")],
        refresh_token=SECRETS[("calendar_integrations", "refresh_token")],
        account_email=SECRETS[("calendar_integrations", "account_email")],
    )
    db.add(integration)
    db.flush()
    now = utcnow()
    db.add(
        SyncedCalendarEvent(
            integration_id=integration.id,
            provider_event_id="evt1",
            title=SECRETS[("synced_calendar_events", "title")],
            description=SECRETS[("synced_calendar_events", "description")],
            location=SECRETS[("synced_calendar_events", "location")],
            start_at=now,
            end_at=now + timedelta(hours=1),
        )
    )
    db.add(
        BreakGlassGrant(
            user_id=user.id,
            client_id=client.id,
            reason=SECRETS[("break_glass_grants", "reason")],
            expires_at=now + timedelta(hours=1),
        )
    )
    db.flush()


def _raw(db: Session, table: str, column: str) -> list[str]:
    """What the column holds, as stored (the test's rows, and any another test left)."""
    return list(db.scalars(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")))


def test_every_sensitive_column_is_encrypted() -> None:
    declared = {(table, column) for table, _pk, column in encrypted_columns()}
    assert set(SECRETS) <= declared


def test_encrypted_columns_never_hold_plaintext(db: Session) -> None:
    _store_every_secret(db)
    for (table, column), plaintext in SECRETS.items():
        stored = _raw(db, table, column)
        assert not any(plaintext in value for value in stored), f"{table}.{column} in clear"
        assert plaintext in [current_vault().decrypt(value) for value in stored]


def test_rotation_re_encrypts_under_the_new_key(db: Session, restore_vault: None) -> None:
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    install_vault(Vault([old_key]))
    _store_every_secret(db)

    install_vault(Vault([new_key, old_key]))
    counts = rotate_encrypted_columns(db)
    assert counts["communications.body"] == 1

    only_new = Vault([new_key])
    for (table, column), plaintext in SECRETS.items():
        assert plaintext in [only_new.decrypt(value) for value in _raw(db, table, column)]
    with pytest.raises(VaultError):
        Vault([old_key]).decrypt(_raw(db, "communications", "body")[0])


def test_wrong_key_is_an_error_not_garbage() -> None:
    token = Vault([Fernet.generate_key().decode()]).encrypt("secret")
    with pytest.raises(VaultError):
        Vault([Fernet.generate_key().decode()]).decrypt(token)


def test_invalid_key_is_refused() -> None:
    with pytest.raises(VaultError):
        Vault(["not-a-fernet-key"])
    with pytest.raises(VaultError):
        Vault([])


def test_development_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "var" / "encryption.key"
    key = load_or_create_dev_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_dev_key(path) == key
    Vault([key])


def test_a_stored_date_that_is_not_a_date_is_an_error_that_does_not_quote_it(db: Session) -> None:
    client = create_client(db)
    db.execute(
        text("UPDATE clients SET date_of_birth = :token WHERE id = :id"),
        {"token": current_vault().encrypt("14/03/1987"), "id": client.id},
    )
    db.expire_all()
    with pytest.raises(VaultError) as error:
        db.scalars(select(Client.date_of_birth).where(Client.id == client.id)).one()
    assert "1987" not in str(error.value)
