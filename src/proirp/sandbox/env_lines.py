"""The `.env` lines that point every provider at a running sandbox (`proirp sandbox env`).

What depends on how the sandbox was started (its TLS port, the CA its certificate chains to, and
whether it accepts its published credentials or those of its own `.env`) is read from its index,
so the lines are right however it was started. The only credentials printed are the sandbox's
published ones (`proirp.config.sandbox_credentials`): never a setting of this installation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_ID,
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
    SANDBOX_MICROSOFT_TENANT,
    SANDBOX_OPENAI_API_KEY,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
    SANDBOX_STRIPE_SECRET_KEY,
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
    SANDBOX_TWILIO_FROM,
)

INDEX_TIMEOUT_SECONDS = 5
# Addresses the product's settings accept (a `.test` domain is refused as reserved): the sender,
# and where the integration check sends its test SMS and email (nobody's, in the sandbox).
FROM_EMAIL = "noreply@sandbox.example.com"
TEST_PHONE = "+12025550143"
TEST_EMAIL = "operator@sandbox.example.com"


class SandboxNotFound(Exception):
    """No provider sandbox answers at the address; the message says what to do."""


def read_index(url: str) -> dict[str, Any]:
    """The index (`GET /`) of the sandbox at `url`."""
    hint = "start one with `proirp sandbox`, or give its address with --url"
    try:
        answer = requests.get(url.rstrip("/") + "/", timeout=INDEX_TIMEOUT_SECONDS)
        index = answer.json() if answer.status_code == 200 else None
    except (requests.RequestException, ValueError):
        raise SandboxNotFound(f"no provider sandbox answers at {url}: {hint}") from None
    if not isinstance(index, dict) or index.get("sandbox") is not True:
        raise SandboxNotFound(f"{url} is not a provider sandbox: {hint}")
    return index


def env_lines(url: str, index: Mapping[str, Any]) -> list[str]:
    """The `.env` lines pointing every provider at the sandbox at `url`, whose index is
    `index`; a vendor whose sandbox takes the credentials of its own `.env` gets its addresses
    only, and a comment saying so."""
    root = url.rstrip("/")
    published = index.get("credentials") or {}
    lines = [
        f"# Every provider pointed at the provider sandbox at {root} (`proirp sandbox env`).",
        "# Its credentials below are the sandbox's own, published: none is a secret.",
    ]
    for vendor, (credentials, addresses) in _vendors(root, index.get("tls")).items():
        lines.append(f"# {vendor}")
        if addresses is None:
            lines.append(f"# (no TLS listener at {root}: start it with `proirp sandbox`)")
            continue
        if published.get(vendor.lower(), "published") == "published":
            lines += [f"{name}={value}" for name, value in credentials.items()]
        else:
            lines.append("# (the sandbox takes the credentials of its own .env: keep those)")
        lines += [f"{name}={value}" for name, value in addresses.items()]
    return lines


Settings = dict[str, str]


def _vendors(
    root: str, tls: Mapping[str, Any] | None
) -> dict[str, tuple[Settings, Settings | None]]:
    """For each vendor, (its credentials, the settings that say where it is)."""
    return {
        "Twilio": (
            {
                "TWILIO_ACCOUNT_SID": SANDBOX_TWILIO_ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": SANDBOX_TWILIO_AUTH_TOKEN,
                "TWILIO_PHONE_NUMBER": SANDBOX_TWILIO_FROM,
                "TEST_PHONE_NUMBER": TEST_PHONE,
            },
            {"TWILIO_API_BASE": f"{root}/twilio"},
        ),
        "SendGrid": (
            {
                "SENDGRID_API_KEY": SANDBOX_SENDGRID_API_KEY,
                "SENDGRID_FROM_EMAIL": FROM_EMAIL,
                "TEST_EMAIL": TEST_EMAIL,
            },
            {
                "SENDGRID_API_BASE": f"{root}/sendgrid",
                # Its events are signed with the sandbox's own key, whoever's API key it takes.
                "SENDGRID_WEBHOOK_PUBLIC_KEY": SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
            },
        ),
        "Google": (
            {
                "GOOGLE_CLIENT_ID": SANDBOX_GOOGLE_CLIENT_ID,
                "GOOGLE_CLIENT_SECRET": SANDBOX_GOOGLE_CLIENT_SECRET,
            },
            {"GOOGLE_OAUTH_BASE": f"{root}/google/oauth", "GOOGLE_API_BASE": f"{root}/google/api"},
        ),
        "Microsoft": (
            {
                "MICROSOFT_CLIENT_ID": SANDBOX_MICROSOFT_CLIENT_ID,
                "MICROSOFT_CLIENT_SECRET": SANDBOX_MICROSOFT_CLIENT_SECRET,
            },
            _microsoft_addresses(root, tls),
        ),
        "OpenAI": (
            {"OPENAI_API_KEY": SANDBOX_OPENAI_API_KEY},
            {"OPENAI_API_BASE": f"{root}/openai/v1"},
        ),
        "Stripe": (
            {"STRIPE_SECRET_KEY": SANDBOX_STRIPE_SECRET_KEY},
            {"STRIPE_API_BASE": f"{root}/stripe"},
        ),
    }


def _microsoft_addresses(root: str, tls: Mapping[str, Any] | None) -> Settings | None:
    """msal speaks only https: Microsoft is reached over the sandbox's TLS listener, on the
    same host and path, trusting the sandbox's CA alone."""
    if not tls or not tls.get("port") or not tls.get("ca_bundle"):
        return None
    parts = urlsplit(root)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    secure = f"https://{host}:{tls['port']}{parts.path}/microsoft"
    return {
        "MICROSOFT_TENANT_ID": SANDBOX_MICROSOFT_TENANT,
        "MICROSOFT_AUTHORITY": f"{secure}/login/{SANDBOX_MICROSOFT_TENANT}",
        "MICROSOFT_GRAPH_BASE": f"{secure}/graph/v1.0",
        "MICROSOFT_CA_BUNDLE": str(tls["ca_bundle"]),
    }
