"""Whether this server can use a provider: it has credentials, or (outside production) the
provider sandbox stands in for it. A request that needs an unavailable provider is refused
before anything is written."""

from __future__ import annotations

from proirp.config import PROVIDER_CREDENTIALS, Settings
from proirp.kit.errors import ServiceUnavailable

WHAT = {
    "twilio": "SMS (Twilio)",
    "sendgrid": "Email (SendGrid)",
    "google": "Google Calendar",
    "microsoft": "Outlook (Microsoft)",
}


class ProviderNotConfigured(ServiceUnavailable):
    code = "provider_not_configured"


def require_provider(settings: Settings, name: str) -> None:
    """Raise a 503 naming the settings to set if `name` cannot be used on this server."""
    if settings.provider_configured(name) or settings.sandbox_allowed:
        return
    variables = " and ".join(PROVIDER_CREDENTIALS[name])
    raise ProviderNotConfigured(
        f"{WHAT[name]} is not set up on this server: its administrator must set {variables} "
        "(see docs/THIRD-PARTY-SETUP.md)"
    )
