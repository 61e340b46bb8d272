"""A calendar that needs connecting again: its owner is told once per incident (the incident
is the integration with the time it moved to needs_reauth; connecting again ends it)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from proirp.config import Settings
from proirp.config.pages import SETTINGS_PAGE
from proirp.kit.db import transaction
from proirp.notices import repository
from proirp.notices.models import NoticeKind
from proirp.notices.repository import Reauth
from proirp.notices.sending import local_time, send_each, send_notice

KIND = NoticeKind.CALENDAR_NEEDS_REAUTH
PROVIDER_NAMES = {"google": "Google", "microsoft": "Outlook (Microsoft 365)"}


def incident_key(reauth: Reauth) -> str:
    return f"{reauth.integration_id}/{reauth.since.isoformat()}"


def note_text(reauth: Reauth, settings: Settings) -> tuple[str, str]:
    """The subject and text: the provider, since when, and where to connect again."""
    provider = PROVIDER_NAMES.get(reauth.provider, reauth.provider)
    subject = f"Connect your {provider} calendar to Pro IRP again"
    text = (
        f"Pro IRP can no longer reach your {provider} calendar: since "
        f"{local_time(reauth.since, settings)} its access has been withdrawn or has expired.\n\n"
        "Until you connect it again, Pro IRP does not see changes to your events, and the "
        "appointments linked to them do not follow those changes.\n\n"
        f"To connect it again, sign in to Pro IRP, open the settings and connect {provider} "
        f"again:\n{settings.base_url}{SETTINGS_PAGE}"
    )
    return subject, text


def note_calendars(factory: sessionmaker[Session], settings: Settings) -> int:
    """Tell each owner of a calendar newly in needs_reauth; how many were told now."""
    with transaction(factory) as session:
        waiting = repository.calendars_needing_reauth(session)
        done = repository.sent_keys(session, KIND, [incident_key(r) for r in waiting])

    def send(session: Session, reauth: Reauth) -> bool:
        if not repository.still_needs_reauth(session, reauth):
            return False  # connected again meanwhile
        subject, text = note_text(reauth, settings)
        return send_notice(
            session,
            KIND,
            incident_key(reauth),
            to=reauth.user_email,
            subject=subject,
            text=text,
            user_id=reauth.user_id,
            integration_id=reauth.integration_id,
            provider=reauth.provider,
        )

    return send_each(factory, KIND, [r for r in waiting if incident_key(r) not in done], send)
