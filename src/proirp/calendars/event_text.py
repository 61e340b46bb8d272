"""What an event's text may say at a calendar provider without a BAA.

Staff's calendar text goes to Google and Microsoft as typed. But an event the product creates or
changes for a client, at a provider with no recorded BAA (`GOOGLE_WORKSPACE_BAA`,
`MICROSOFT_365_BAA`), carries neither what identifies the client (name, date of birth, phone,
email) nor clinical words: the same scanner as the messages' BAA guard, less its time and date
patterns (an event's time is the event) and, in its location, its place patterns.
"""

from __future__ import annotations

from proirp.clients.models import Client
from proirp.clients.phi import ClientIdentity, find_phi
from proirp.config import Settings
from proirp.kit.errors import ValidationFailed

DEFAULT_TITLE = "Appointment"
_PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}
_EVENT_TIMES = {"an appointment time", "a date"}
_EVENT_PLACES = {"a location", "an address"}


def has_baa(settings: Settings, provider: str) -> bool:
    if provider == "google":
        return settings.google_workspace_baa
    return settings.microsoft_365_baa


def check_event_text(
    settings: Settings, provider: str, client: Client | None, **texts: str | None
) -> None:
    """Refuse (422 naming the field) client-identifying or clinical words in the text of a
    client's event, when the provider has no BAA. `texts`: field name → text sent."""
    if client is None or has_baa(settings, provider):
        return
    identity = ClientIdentity(
        client.first_name, client.last_name, client.date_of_birth, client.phone, client.email
    )
    for field, text in texts.items():
        allowed = _EVENT_TIMES | (_EVENT_PLACES if field == "location" else set())
        found = [kind for kind in find_phi(text or "", client=identity) if kind not in allowed]
        if found:
            name = _PROVIDER_NAMES.get(provider, provider)
            raise ValidationFailed(
                f"Without a BAA with {name}, a client's calendar event may not carry "
                + ", ".join(found)
                + f'; use a neutral title such as "{DEFAULT_TITLE}".',
                fields={field: "carries PHI the calendar provider may not receive"},
                code="phi_without_baa",
            )
