"""The provider sandbox's own credentials: the product uses them when no real ones are configured,
and the sandbox accepts them. Published on purpose; none of them is a secret."""

from __future__ import annotations

SANDBOX_TWILIO_ACCOUNT_SID = "AC" + "5a" * 16
SANDBOX_TWILIO_AUTH_TOKEN = "sandbox-twilio-auth-token"  # noqa: S105 (the sandbox's, not a secret)
SANDBOX_TWILIO_FROM = "+15005550006"  # Twilio's magic "valid sender" test number
SANDBOX_SENDGRID_API_KEY = "SG.sandbox.sandbox-sendgrid-api-key"  # the sandbox's, not a secret
SANDBOX_SENDGRID_FROM = "noreply@sandbox.proirp.test"
SANDBOX_GOOGLE_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
SANDBOX_GOOGLE_CLIENT_SECRET = "sandbox-google-client-secret"  # noqa: S105 (the sandbox's)
SANDBOX_MICROSOFT_CLIENT_ID = "5a4db0c5-0000-4000-8000-00000000a11e"  # shaped like Azure's ids
SANDBOX_MICROSOFT_CLIENT_SECRET = "sandbox-microsoft-client-secret"  # noqa: S105 (the sandbox's)
SANDBOX_MICROSOFT_TENANT = "common"
SANDBOX_OPENAI_API_KEY = "sk-sandbox-openai-api-key"  # the sandbox's, not a secret
SANDBOX_STRIPE_SECRET_KEY = "sk_test_sandbox_stripe_secret_key"  # noqa: S105 (the sandbox's)
# The public half of the sandbox's Event Webhook signing key (base64 DER, as SendGrid shows it).
SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEG2FunMN3CXqMc/ILDV15f8wmrfNfcwwBXKaA029wcrm3gHUwXRP2WN8i"
    "4Ojgbj9xbagaqJo7UBjoXfHHIEUPfA=="
)
