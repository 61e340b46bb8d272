"""Where and as whom the product reaches each provider: the configured one, or the provider
sandbox standing in for it when no credentials are set (never in production)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_ID,
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
    SANDBOX_MICROSOFT_TENANT,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_SENDGRID_FROM,
    SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
    SANDBOX_TWILIO_FROM,
)

if TYPE_CHECKING:
    from proirp.config import Settings


@dataclass(frozen=True)
class TwilioConnection:
    account_sid: str
    auth_token: str
    api_base: str  # https://api.twilio.com, or the sandbox's
    from_number: str  # the sending number, E.164 ("" when none is configured)


@dataclass(frozen=True)
class SendGridConnection:
    api_key: str
    api_base: str  # https://api.sendgrid.com, or the sandbox's
    from_email: str  # the sender address ("" when none is configured)
    webhook_public_key: str  # verifies signed Event Webhook requests ("" when not configured)


@dataclass(frozen=True)
class GoogleConnection:
    client_id: str
    client_secret: str
    oauth_base: str  # the OAuth issuer: https://accounts.google.com, or the sandbox's
    api_base: str  # https://www.googleapis.com, or the sandbox's
    redirect_uri: str


@dataclass(frozen=True)
class MicrosoftConnection:
    client_id: str
    client_secret: str
    authority: str  # https://login.microsoftonline.com/<tenant>, or the sandbox's
    graph_base: str  # https://graph.microsoft.com/v1.0, or the sandbox's
    redirect_uri: str
    ca_bundle: Path | None  # trust only this CA for both (None: the system's)


def secret_value(value: SecretStr | None, default: str = "") -> str:
    """A secret setting's value, or `default` when it is not set."""
    return value.get_secret_value() if value is not None else default


def twilio_connection(settings: Settings) -> TwilioConnection:
    if settings.twilio_configured or not settings.sandbox_allowed:
        return TwilioConnection(
            account_sid=settings.twilio_account_sid or "",
            auth_token=secret_value(settings.twilio_auth_token),
            api_base=str(settings.twilio_api_base).rstrip("/"),
            from_number=settings.twilio_phone_number or "",
        )
    return TwilioConnection(
        account_sid=SANDBOX_TWILIO_ACCOUNT_SID,
        auth_token=SANDBOX_TWILIO_AUTH_TOKEN,
        api_base=f"{settings.base_url}/sandbox/twilio",
        from_number=settings.twilio_phone_number or SANDBOX_TWILIO_FROM,
    )


def sendgrid_connection(settings: Settings) -> SendGridConnection:
    if settings.sendgrid_configured or not settings.sandbox_allowed:
        return SendGridConnection(
            api_key=secret_value(settings.sendgrid_api_key),
            api_base=str(settings.sendgrid_api_base).rstrip("/"),
            from_email=settings.sendgrid_from_email or "",
            webhook_public_key=settings.sendgrid_webhook_public_key or "",
        )
    return SendGridConnection(
        api_key=SANDBOX_SENDGRID_API_KEY,
        api_base=f"{settings.base_url}/sandbox/sendgrid",
        from_email=settings.sendgrid_from_email or SANDBOX_SENDGRID_FROM,
        webhook_public_key=SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
    )


def google_connection(settings: Settings) -> GoogleConnection:
    if settings.google_configured or not settings.sandbox_allowed:
        return GoogleConnection(
            client_id=settings.google_client_id or "",
            client_secret=secret_value(settings.google_client_secret),
            oauth_base=str(settings.google_oauth_base).rstrip("/"),
            api_base=str(settings.google_api_base).rstrip("/"),
            redirect_uri=str(settings.google_redirect_uri),
        )
    sandbox = f"{settings.base_url}/sandbox/google"
    return GoogleConnection(
        client_id=SANDBOX_GOOGLE_CLIENT_ID,
        client_secret=SANDBOX_GOOGLE_CLIENT_SECRET,
        oauth_base=f"{sandbox}/oauth",
        api_base=f"{sandbox}/api",
        redirect_uri=f"{settings.base_url}/calendar/google/callback",
    )


def microsoft_connection(settings: Settings) -> MicrosoftConnection:
    if settings.microsoft_configured or not settings.sandbox_allowed:
        authority = (
            str(settings.microsoft_authority).rstrip("/")
            if settings.microsoft_authority
            else f"https://login.microsoftonline.com/{settings.microsoft_tenant_id}"
        )
        return MicrosoftConnection(
            client_id=settings.microsoft_client_id or "",
            client_secret=secret_value(settings.microsoft_client_secret),
            authority=authority,
            graph_base=str(settings.microsoft_graph_base).rstrip("/"),
            redirect_uri=str(settings.microsoft_redirect_uri),
            ca_bundle=settings.microsoft_ca_bundle,
        )
    # The sandbox `proirp serve` mounts, reached over its TLS listener.
    sandbox = f"https://127.0.0.1:{settings.serve_sandbox_tls_port}/sandbox/microsoft"
    return MicrosoftConnection(
        client_id=SANDBOX_MICROSOFT_CLIENT_ID,
        client_secret=SANDBOX_MICROSOFT_CLIENT_SECRET,
        authority=f"{sandbox}/login/{SANDBOX_MICROSOFT_TENANT}",
        graph_base=f"{sandbox}/graph/v1.0",
        redirect_uri=f"{settings.base_url}/calendar/microsoft/callback",
        ca_bundle=settings.sandbox_tls_directory / "ca.pem",
    )
