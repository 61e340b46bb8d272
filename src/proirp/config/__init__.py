"""Settings: one object, read from the environment and `.env`, checked before anything starts."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from proirp.config import connections, rules
from proirp.config.aws import AwsS3Settings
from proirp.config.connections import (
    GoogleConnection,
    MicrosoftConnection,
    SendGridConnection,
    TwilioConnection,
)
from proirp.config.rules import PHONE_EXAMPLE as PHONE_EXAMPLE
from proirp.config.sign_in import SignInSettings

Environment = Literal["development", "test", "production"]
QueueBackend = Literal["sqlite", "postgres", "redis"]

SECRET_FIELDS = (
    "twilio_auth_token",
    "sendgrid_api_key",
    "google_client_secret",
    "microsoft_client_secret",
    "openai_api_key",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "proirp_encryption_keys",
    "audit_chain_keys",
    "metrics_token",
    "aws_secret_access_key",
    "aws_session_token",
)
# Secrets that are comma lists of keys, the first current: each key is checked on its own.
KEY_LIST_FIELDS = ("proirp_encryption_keys", "audit_chain_keys")


# Each provider the sandbox can stand in for, and the settings that switch it to the real one.
PROVIDER_CREDENTIALS = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "sendgrid": ("SENDGRID_API_KEY",),
    "google": ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
    "microsoft": ("MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET"),
}
# Settings that only work together (as field names): half a pair is refused at start-up.
CREDENTIAL_PAIRS = tuple(
    (first.lower(), second.lower())
    for first, second in (names for names in PROVIDER_CREDENTIALS.values() if len(names) == 2)
)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable and never echoes its value."""


class Settings(BaseSettings, SignInSettings, AwsS3Settings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- the service ------------------------------------------------------------------------
    proirp_env: Environment = "development"
    port: int = Field(default=8080, ge=1, le=65535)
    # Unset: http://localhost:<PORT>, so `proirp serve --port N` stays consistent with itself.
    public_base_url: AnyHttpUrl | None = None
    proirp_data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_backend: QueueBackend = "sqlite"
    queue_name: str = Field(default="proirp", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    proirp_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Keys that sign the audit chain (comma list, first signs, all verify); never in the database.
    audit_chain_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Where the audit log's head is anchored (unset: <PROIRP_DATA_DIR>/audit/anchors).
    audit_anchor_path: Path | None = None
    audit_anchor_interval_minutes: int = Field(default=5, ge=1, le=24 * 60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One JSON object per log line; unset: JSON in production, readable lines otherwise.
    log_json: bool | None = None
    # The proxies whose X-Forwarded-For is believed (addresses, networks, or *); empty: none.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A front end of the practice's own on other origins (exact origins, comma-separated): the
    # browser may call the API from there with credentials. Empty: no other origin.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # That front end's address: connecting a calendar ends at <FRONTEND_URL>/settings?provider=
    # …&outcome=…. Unset: the product's own Settings page.
    frontend_url: AnyHttpUrl | None = None
    # Bodies over this are refused (413) before anything reads them; see kit/body_limit.py.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    practice_timezone: str | None = None
    practice_name: str = "Pro IRP"
    practice_phone: str | None = None
    default_phone_region: str = Field(default="US", min_length=2, max_length=2)
    # The on-call address told of urgent client messages (the inbox settings can change it).
    urgent_alert_email: str | None = None
    # Refused webhook requests within one window that email every active admin (notices/).
    webhook_failure_alert_threshold: int = Field(default=20, ge=1)
    webhook_failure_alert_window_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # --- Twilio (SMS) -----------------------------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_phone_number: str | None = None
    twilio_hipaa_enabled: bool = False
    twilio_mps: float = Field(default=1.0, gt=0)
    twilio_api_base: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")

    # --- dispatch ---------------------------------------------------------------------------
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    send_max_attempts: int = Field(default=8, ge=1)
    reconcile_after_seconds: int = Field(default=120, ge=1)
    worker_threads: int = Field(default=8, ge=1, le=64)

    # --- SendGrid (email) -------------------------------------------------------------------
    sendgrid_api_key: SecretStr | None = None
    sendgrid_from_email: str | None = None
    sendgrid_from_name: str = "Pro IRP"
    sendgrid_hipaa_enabled: bool = False
    sendgrid_api_base: AnyHttpUrl = AnyHttpUrl("https://api.sendgrid.com")
    # Mail Settings → Signed Event Webhook → verification key (base64, no PEM armour).
    sendgrid_webhook_public_key: str | None = None
    # Requests per second SendGrid allows this account for mail/send (None: no pacing).
    sendgrid_requests_per_second: float | None = Field(default=None, gt=0)
    # The Event Webhook's own body limit. SendGrid posts a batch "when the batch size reaches
    # 768 kilobytes" (Getting Started with the Event Webhook), so a batch can pass 768 KB by its
    # last event; a refused batch is retried for a day, then lost. Never below 768 KiB.
    sendgrid_events_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=768 * 1024)

    # --- Google Calendar --------------------------------------------------------------------
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_redirect_uri: AnyHttpUrl = AnyHttpUrl("http://localhost:8080/calendar/google/callback")
    # The OAuth issuer (its /.well-known/openid-configuration names the endpoints) and the API.
    google_oauth_base: AnyHttpUrl = AnyHttpUrl("https://accounts.google.com")
    google_api_base: AnyHttpUrl = AnyHttpUrl("https://www.googleapis.com")

    # --- calendar sync ----------------------------------------------------------------------
    # A BAA signed with Google for Workspace (Calendar): without one, an event the product
    # creates for a client carries no client name or clinical words.
    google_workspace_baa: bool = False
    calendar_sync_days_back: int = Field(default=30, ge=0, le=3650)
    calendar_sync_days_ahead: int = Field(default=180, ge=1, le=3650)
    # Refresh an access token this long before it expires.
    calendar_refresh_margin_seconds: int = Field(default=300, ge=0, le=3000)
    # Push (calendars/push.py): off or unavailable, calendars are polled every 5 minutes.
    calendar_push: bool = True
    calendar_push_debounce_seconds: float = Field(default=1.0, ge=0, le=60)

    # --- Microsoft Outlook ------------------------------------------------------------------
    microsoft_client_id: str | None = None
    microsoft_365_baa: bool = False  # as GOOGLE_WORKSPACE_BAA, for Microsoft 365
    microsoft_client_secret: SecretStr | None = None
    microsoft_tenant_id: str = "common"
    microsoft_redirect_uri: AnyHttpUrl = AnyHttpUrl(
        "http://localhost:8080/calendar/microsoft/callback"
    )
    # The sign-in authority, tenant included (unset: https://login.microsoftonline.com/<tenant>),
    # and Graph's versioned base.
    microsoft_authority: AnyHttpUrl | None = None
    microsoft_graph_base: AnyHttpUrl = AnyHttpUrl("https://graph.microsoft.com/v1.0")
    # A CA bundle to trust for Microsoft's sign-in and Graph instead of the system's (the
    # sandbox's own certificate; or a TLS-inspecting proxy's).
    microsoft_ca_bundle: Path | None = None

    # --- the provider sandbox ---------------------------------------------------------------
    sandbox_port: int = Field(default=8099, ge=1, le=65535)
    # Microsoft's sign-in only speaks https: the sandbox serves its Microsoft part here, over TLS
    # with a certificate it makes for itself.
    sandbox_tls_port: int = Field(default=8443, ge=1, le=65535)
    # The same for the sandbox `proirp serve` mounts (sandbox mode), on a port of its own so
    # that `proirp sandbox` can run beside it.
    serve_sandbox_tls_port: int = Field(default=8444, ge=1, le=65535)
    sandbox_latency_ms: int = Field(default=0, ge=0)
    sandbox_twilio_mps: float | None = Field(default=None, gt=0)
    sandbox_sendgrid_rps: float | None = Field(default=None, gt=0)
    # Redirect URIs the sandbox's Google and Microsoft accept besides the product's own
    # callbacks (from PUBLIC_BASE_URL and the *_REDIRECT_URI settings); comma-separated.
    sandbox_redirect_uris: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- the integration check and other services -------------------------------------------
    # Checked by `proirp check-integrations` itself: a typo here must not stop the server.
    test_phone_number: str | None = None
    test_email: str | None = None
    openai_api_key: SecretStr | None = None
    openai_api_base: AnyHttpUrl = AnyHttpUrl("https://api.openai.com/v1")
    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: AnyHttpUrl = AnyHttpUrl("https://api.stripe.com")

    # --- metrics (Prometheus) ---------------------------------------------------------------
    # Off: GET /metrics is a 404 like any unknown path, and workers open no port.
    metrics_enabled: bool = False
    # Set: GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: SecretStr | None = None
    # Set (with METRICS_ENABLED): `proirp worker` serves its own metrics on this port.
    metrics_worker_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_worker_host: str = "127.0.0.1"

    @field_validator(
        *(name for name in SECRET_FIELDS if name not in KEY_LIST_FIELDS),
        "public_base_url",
        "frontend_url",
        "sandbox_twilio_mps",
        "sandbox_sendgrid_rps",
        "sendgrid_requests_per_second",
        "sendgrid_webhook_public_key",
        "microsoft_authority",
        "microsoft_ca_bundle",
        "audit_anchor_path",
        "twilio_account_sid",
        "google_client_id",
        "microsoft_client_id",
        "stripe_publishable_key",
        "metrics_worker_port",
        "log_json",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(*KEY_LIST_FIELDS, mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return rules.comma_list(value)

    @field_validator("audit_chain_keys")
    @classmethod
    def _chain_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        return rules.chain_keys(value)

    @field_validator("sandbox_redirect_uris", mode="before")
    @classmethod
    def _redirect_uris(cls, value: object) -> object:
        return rules.absolute_urls(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return rules.origins(value)

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        return rules.trusted_proxies(value)

    @field_validator("twilio_phone_number", "practice_phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return rules.e164(value)

    @field_validator("sendgrid_from_email", "urgent_alert_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return rules.email_address(value)

    @field_validator("practice_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return rules.time_zone(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return rules.database_url(value)

    @model_validator(mode="after")
    def _rules_across_settings(self) -> Settings:
        for first, second in CREDENTIAL_PAIRS:
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                have, lack = (
                    (first, second) if getattr(self, first) is not None else (second, first)
                )
                # Half a pair would quietly send that provider's traffic to the sandbox.
                raise ValueError(
                    f"{lack.upper()} is not set, but {have.upper()} is: set both "
                    "(or neither, to use the provider sandbox)"
                )
        if self.reconcile_after_seconds < 2 * self.send_timeout_seconds:
            # A send still waiting for its answer must never be taken for a lost one.
            raise ValueError("RECONCILE_AFTER_SECONDS must be at least twice SEND_TIMEOUT_SECONDS")
        if self.proirp_env == "production":
            rules.production(self)
        return self

    # --- derived ----------------------------------------------------------------------------
    def secrets(self) -> Iterator[tuple[str, str]]:
        """(field name, value) of every secret that is set (each encryption key on its own)."""
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    yield name, item.get_secret_value()

    @cached_property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.proirp_data_dir / 'proirp.db'}"

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")

    @property
    def is_development(self) -> bool:
        return self.proirp_env != "production"

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.proirp_env == "production"

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sendgrid_configured(self) -> bool:
        return self.sendgrid_api_key is not None

    @property
    def google_configured(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)

    @property
    def microsoft_configured(self) -> bool:
        return bool(self.microsoft_client_id and self.microsoft_client_secret)

    @property
    def sandbox_allowed(self) -> bool:
        """Whether the provider sandbox may stand in for a provider without credentials. Never
        in production: messages would look delivered and go nowhere, and the sandbox's published
        credentials would read them."""
        return self.proirp_env != "production"

    def provider_configured(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_configured"))

    @property
    def sandbox_mode(self) -> bool:
        """A provider without real credentials: `proirp serve` runs the sandbox under /sandbox."""
        return self.sandbox_allowed and not all(
            self.provider_configured(name) for name in PROVIDER_CREDENTIALS
        )

    @property
    def audit_anchor_file(self) -> Path:
        """The append-only file the audit log's head is anchored to, outside the database."""
        return self.audit_anchor_path or self.proirp_data_dir / "audit" / "anchors"

    @property
    def sandbox_tls_directory(self) -> Path:
        """Where the sandbox keeps the certificate it serves Microsoft's part with."""
        return self.proirp_data_dir / "sandbox-tls"

    @property
    def base_url(self) -> str:
        if self.public_base_url is None:
            return f"http://localhost:{self.port}"
        return str(self.public_base_url).rstrip("/")

    def twilio_connection(self) -> TwilioConnection:
        """Where and as whom to reach Twilio's API and send from (or the sandbox's)."""
        return connections.twilio_connection(self)

    def sendgrid_connection(self) -> SendGridConnection:
        """Where and as whom to reach SendGrid, and its webhook key (or the sandbox's)."""
        return connections.sendgrid_connection(self)

    def google_connection(self) -> GoogleConnection:
        """Where and as whom to reach Google's sign-in and Calendar API (or the sandbox's)."""
        return connections.google_connection(self)

    def microsoft_connection(self) -> MicrosoftConnection:
        """Where and as whom to reach Microsoft's sign-in and Graph (or the sandbox's)."""
        return connections.microsoft_connection(self)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper() or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name != "settings" else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
