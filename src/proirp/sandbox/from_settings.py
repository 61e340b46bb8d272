"""The sandbox's configuration from the product's settings: one `.env` drives both, so the
sandbox accepts exactly the credentials the product will send."""

from __future__ import annotations

from proirp.config import Settings
from proirp.config.connections import secret_value
from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_ID,
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
    SANDBOX_OPENAI_API_KEY,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_STRIPE_SECRET_KEY,
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from proirp.sandbox.config import SandboxConfig


def redirect_uris(settings: Settings, provider: str) -> tuple[str, ...]:
    """The redirect URIs registered for the sandbox's `provider` client: the product's own
    callback (from PUBLIC_BASE_URL, and as configured), then SANDBOX_REDIRECT_URIS."""
    configured = str(getattr(settings, f"{provider}_redirect_uri"))
    own = [f"{settings.base_url}/calendar/{provider}/callback", configured]
    return tuple(dict.fromkeys([*own, *settings.sandbox_redirect_uris]))


def sandbox_config(settings: Settings) -> SandboxConfig:
    """The sandbox accepting the product's configured credentials (or the sandbox's own)."""
    if settings.twilio_configured:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
    else:
        sid, token = SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN
    sendgrid_api_key = secret_value(settings.sendgrid_api_key, SANDBOX_SENDGRID_API_KEY)
    if settings.google_configured:
        assert settings.google_client_id and settings.google_client_secret
        google_id = settings.google_client_id
        google_secret = settings.google_client_secret.get_secret_value()
    else:
        google_id, google_secret = SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET
    if settings.microsoft_configured:
        assert settings.microsoft_client_id and settings.microsoft_client_secret
        microsoft_id = settings.microsoft_client_id
        microsoft_secret = settings.microsoft_client_secret.get_secret_value()
    else:
        microsoft_id, microsoft_secret = (
            SANDBOX_MICROSOFT_CLIENT_ID,
            SANDBOX_MICROSOFT_CLIENT_SECRET,
        )
    openai_api_key = secret_value(settings.openai_api_key, SANDBOX_OPENAI_API_KEY)
    stripe_secret_key = secret_value(settings.stripe_secret_key, SANDBOX_STRIPE_SECRET_KEY)
    return SandboxConfig(
        twilio_account_sid=sid,
        twilio_auth_token=token,
        twilio_mps=settings.sandbox_twilio_mps,
        latency_ms=settings.sandbox_latency_ms,
        app_base_url=settings.base_url,
        sendgrid_api_key=sendgrid_api_key,
        sendgrid_rps=settings.sandbox_sendgrid_rps,
        google_client_id=google_id,
        google_client_secret=google_secret,
        google_redirect_uris=redirect_uris(settings, "google"),
        microsoft_client_id=microsoft_id,
        microsoft_client_secret=microsoft_secret,
        microsoft_redirect_uris=redirect_uris(settings, "microsoft"),
        # The product mounts the sandbox at /sandbox of its plain-HTTP app: browsers consent there.
        microsoft_consent_base=f"{settings.base_url}/sandbox",
        openai_api_key=openai_api_key,
        stripe_secret_key=stripe_secret_key,
    )
