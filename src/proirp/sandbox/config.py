"""The sandbox's start-up configuration, shared by every vendor it imitates."""

from __future__ import annotations

from dataclasses import dataclass

from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_ID,
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
    SANDBOX_OPENAI_API_KEY,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_STRIPE_SECRET_KEY,
)

# The private half of the sandbox's Event Webhook signing key (PKCS8 DER, base64); its public
# half is SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY in proirp.config.sandbox_credentials. The
# sandbox's own key, not a secret.
SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY = (
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBnllfh8YyGKZn1GgazzxS9QwS3PxSqL+WK8BQ51h9Aqh"
    "RANCAAQbYW6cw3cJeoxz8gsNXXl/zCat819zDAFcpoDTb3ByubeAdTBdE/ZY3yLg6OBuP3FtqBqomjtQGOhd8ccgRQ98"
)


@dataclass(frozen=True)
class SandboxConfig:
    """How the provider sandbox behaves when it starts.

    Knobs (`twilio_mps`, `sendgrid_rps`, `latency_ms`, `event_delay_ms`,
    `google_access_token_seconds`, `microsoft_access_token_seconds`,
    `microsoft_mailbox_concurrency`) can be changed at run time through each vendor's control
    endpoints; a reset returns them to these values.
    """

    twilio_account_sid: str
    twilio_auth_token: str
    # Messages accepted per second per sending number; None = unlimited.
    twilio_mps: float | None = None
    # Added to every API answer, to behave like a remote service.
    latency_ms: int = 0
    # Where the application under test listens, for simulated inbound messages.
    app_base_url: str | None = None
    # Where the application reaches this sandbox's Twilio API, for the MediaUrls of a simulated
    # MMS; None: where the control request reached it.
    twilio_api_root: str | None = None
    # Pause before each status change of an outbound message (and its callback).
    callback_delay_ms: int = 50
    # The bearer key SendGrid's mail/send and the control routes accept.
    sendgrid_api_key: str = SANDBOX_SENDGRID_API_KEY
    # Signs Event Webhook requests (the product verifies with the matching public key).
    sendgrid_webhook_private_key: str = SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
    # mail/send requests accepted per second for the account; None = unlimited.
    sendgrid_rps: float | None = None
    # Pause before each Event Webhook batch (events due within it travel together).
    event_delay_ms: int = 50
    # The one OAuth client Google's token endpoint (and the control routes) accept.
    google_client_id: str = SANDBOX_GOOGLE_CLIENT_ID
    google_client_secret: str = SANDBOX_GOOGLE_CLIENT_SECRET
    # The redirect URIs registered for that client: the authorization page sends a browser (and
    # a code) only to one of these, exactly, as Google does.
    google_redirect_uris: tuple[str, ...] = ()
    # Lifetime of Google access tokens (the access_token_seconds knob changes it at run time).
    google_access_token_seconds: int = 3600
    # The one app registration Microsoft's token endpoint (and the control routes) accept.
    microsoft_client_id: str = SANDBOX_MICROSOFT_CLIENT_ID
    microsoft_client_secret: str = SANDBOX_MICROSOFT_CLIENT_SECRET
    # The app registration's redirect URIs: authorize answers and sign-out go only to these.
    microsoft_redirect_uris: tuple[str, ...] = ()
    # A plain-HTTP base where the sandbox is also reachable (e.g. "http://localhost:8080/sandbox"):
    # the discovery document then sends browsers to the consent page there, not to the TLS
    # listener's self-signed certificate. None: the authorize URL is built from the request.
    microsoft_consent_base: str | None = None
    # Lifetime of Microsoft access tokens (the access_token_seconds knob changes it at run time).
    microsoft_access_token_seconds: int = 3600
    # Graph requests one mailbox may have in flight at once (Outlook: 4); more get 429.
    microsoft_mailbox_concurrency: int = 4
    # The bearer key OpenAI's models list (and its control routes) accept.
    openai_api_key: str = SANDBOX_OPENAI_API_KEY
    # The secret key Stripe's balance (and its control routes) accept; sk_live_/rk_live_ → livemode.
    stripe_secret_key: str = SANDBOX_STRIPE_SECRET_KEY
    # Where `proirp sandbox` also listens over TLS, and the CA its certificate chains to (an
    # absolute path), for the index that `proirp sandbox env` reads; None: no TLS listener.
    tls_port: int | None = None
    tls_ca_path: str | None = None

    def __post_init__(self) -> None:
        for name in ("twilio_mps", "sendgrid_rps"):
            rate = getattr(self, name)
            if rate is not None and rate <= 0:
                raise ValueError(f"{name} must be positive or None")
        if self.google_access_token_seconds < 0 or self.microsoft_access_token_seconds < 0:
            raise ValueError("access token lifetimes must not be negative")
        if self.microsoft_mailbox_concurrency < 1:
            raise ValueError("microsoft_mailbox_concurrency must be at least 1")
        if self.latency_ms < 0 or self.callback_delay_ms < 0 or self.event_delay_ms < 0:
            raise ValueError(
                "latency_ms, callback_delay_ms and event_delay_ms must not be negative"
            )
