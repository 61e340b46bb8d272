"""A calendar that has to be connected again: its owner gets one PHI-free email per incident,
however many syncs fail and however often the job runs; connecting again and losing access again
is a new incident, and a new email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from proirp.auth.models import User
from proirp.calendars import oauth
from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent
from proirp.calendars.tokens import NeedsReauth, access_token
from proirp.config import Settings
from proirp.integrations.calendar import TokenSet
from proirp.kit.origin import RequestOrigin
from proirp.kit.time import set_clock, utcnow
from proirp.notices import repository
from tests.factories import create_client, create_user
from tests.notices.conftest import MONDAY, notice_audits, notices_sent, run_notices

ACCESS_TOKEN = "ya29.secret-access-token"


@pytest.fixture
def clinician(db: Session) -> User:
    return create_user(db, role="clinician", email="dr.rivera@clinic.example.com")


def _integration(db: Session, user: User, provider: str = "google") -> CalendarIntegration:
    """A connected calendar whose access token has expired and that holds no refresh token:
    the next use finds its access withdrawn."""
    row = CalendarIntegration(
        user_id=user.id,
        provider=provider,
        status="active",
        account_email="rivera.private@gmail.example.com",
        access_token=ACCESS_TOKEN,
        token_expires_at=utcnow() - timedelta(minutes=1),
    )
    db.add(row)
    db.flush()
    return row


def _sync_fails(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> None:
    with pytest.raises(NeedsReauth):
        access_token(factory, settings, integration_id)


def _connect_again(db: Session, user: User, *, expires_in: timedelta) -> None:
    tokens = TokenSet(access_token=ACCESS_TOKEN + "-2", expires_at=utcnow() + expires_in)
    oauth.store_connection(db, user, "google", tokens, None, RequestOrigin())
    db.flush()


def test_the_owner_is_told_once_per_incident(
    db: Session, factory: sessionmaker[Session], settings: Settings, clinician: User
) -> None:
    client = create_client(db, first_name="Jordan", last_name="Whitfield", phone="+12025550187")
    with set_clock(MONDAY) as clock:
        integration = _integration(db, clinician)
        db.add(
            ClientCalendarEvent(
                client_id=client.id,
                user_id=clinician.id,
                integration_id=integration.id,
                provider="google",
                provider_event_id="evt-1",
            )
        )
        run_notices(factory, settings)
        assert notices_sent(db) == []  # still connected: nothing to say

        _sync_fails(factory, settings, integration.id)
        run_notices(factory, settings)
        clock.advance(timedelta(minutes=5))
        _sync_fails(factory, settings, integration.id)  # the next sync fails too
        run_notices(factory, settings)
        [first] = notices_sent(db)
        assert first.to_address == "dr.rivera@clinic.example.com"

        clock.advance(timedelta(hours=2))
        _connect_again(db, clinician, expires_in=timedelta(minutes=30))
        run_notices(factory, settings)
        assert len(notices_sent(db)) == 1  # connected again: the incident is over
        assert integration.needs_reauth_since is None

        clock.advance(timedelta(hours=1))  # its new access token has expired, and cannot refresh
        _sync_fails(factory, settings, integration.id)
        run_notices(factory, settings)
        run_notices(factory, settings)
    first_again, second = notices_sent(db)
    assert first_again.id == first.id and second.to_address == first.to_address
    audits = notice_audits(db, "calendar_needs_reauth")
    assert [a["communication_id"] for a in audits] == [first.id, second.id]
    assert {a["recipient_user_id"] for a in audits} == {clinician.id}
    assert {a["integration_id"] for a in audits} == {integration.id}


def test_the_email_names_the_provider_and_links_to_the_settings_without_phi(
    db: Session, factory: sessionmaker[Session], settings: Settings, clinician: User
) -> None:
    client = create_client(db, first_name="Jordan", last_name="Whitfield", phone="+12025550187")
    with set_clock(MONDAY):
        integration = _integration(db, clinician, provider="microsoft")
        _sync_fails(factory, settings, integration.id)
        run_notices(factory, settings)
    [note] = notices_sent(db)
    assert note.subject == "Connect your Outlook (Microsoft 365) calendar to Pro IRP again"
    assert note.body is not None
    assert f"{settings.base_url}/app/settings" in note.body
    assert "Outlook (Microsoft 365) calendar: since 14 January 2030, 06:00 CST" in note.body
    for private in (
        client.first_name,
        client.last_name,
        "+12025550187",
        "2025550187",
        ACCESS_TOKEN,
        "rivera.private",
        integration.id,
    ):
        assert private not in note.body and private not in (note.subject or "")


def test_two_workers_that_both_saw_the_incident_send_one_email(
    db: Session,
    factory: sessionmaker[Session],
    settings: Settings,
    clinician: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second worker read the incident before the first one's notice was committed: the
    notice's unique row, not the read, keeps it to one email."""
    with set_clock(MONDAY):
        integration = _integration(db, clinician)
        _sync_fails(factory, settings, integration.id)
        monkeypatch.setattr(repository, "sent_keys", lambda *_args: set())
        run_notices(factory, settings)
        run_notices(factory, settings)
    assert len(notices_sent(db)) == 1


def test_an_owner_whose_account_is_closed_is_not_emailed(
    db: Session, factory: sessionmaker[Session], settings: Settings, clinician: User
) -> None:
    with set_clock(MONDAY):
        integration = _integration(db, clinician)
        _sync_fails(factory, settings, integration.id)
        clinician.is_active = False
        db.flush()
        run_notices(factory, settings)
    assert notices_sent(db) == []
