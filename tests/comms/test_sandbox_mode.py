"""With no provider credentials, `proirp serve` is in sandbox mode: it serves the provider sandbox
under /sandbox and sends to it, so a message goes all the way round on one process (SMS with
its status callbacks, email with its signed events)."""

from __future__ import annotations

from pathlib import Path

import httpx

from proirp.config.sandbox_credentials import (
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from tests.calendars.dance import connect
from tests.comms.conftest import add_client, add_email_clients, send, wait_for_status
from tests.live import SANDBOX_MODE, live_stack


def test_embedded_sandbox_delivers_and_health_says_so(tmp_path: Path) -> None:
    with live_stack(tmp_path, settings=SANDBOX_MODE) as live:
        health = httpx.get(f"{live.app_url}/healthz").json()
        assert health["mode"] == "sandbox mode"
        assert health["providers"] == {
            "twilio": "sandbox",
            "sendgrid": "sandbox",
            "google": "sandbox",
            "microsoft": "sandbox",
        }

        comm_id = send(live, add_client(live, "+12025550143")).json()["communication"]["id"]
        final = wait_for_status(live, comm_id, {"delivered"})
        assert final["provider_message_id"].startswith("SM")

        embedded = httpx.get(
            f"{live.app_url}/sandbox/twilio/_sandbox/ledger",
            auth=(SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN),
        ).json()["messages"]
        assert [m["to"] for m in embedded] == ["+12025550143"]
        assert live.ledger() == []  # the separate sandbox process saw nothing

        [client_id] = add_email_clients(live, 1)
        with live.api() as api:
            response = api.post(
                "/comms",
                json={"type": "email", "client_id": client_id, "subject": "Hi", "body": "Hello."},
            )
        email = wait_for_status(live, response.json()["communication"]["id"], {"delivered"})
        assert [e["source"] for e in email["events"]][-1] == "webhook"  # a verified event
        copies = httpx.get(
            f"{live.app_url}/sandbox/sendgrid/_sandbox/ledger",
            headers={"Authorization": f"Bearer {SANDBOX_SENDGRID_API_KEY}"},
        ).json()["messages"]
        assert [c["to"] for c in copies] == ["client0@example.com"]
        assert live.email_ledger() == []

        with live.api() as api:
            auth_url = api.get("/calendar/google/connect").json()["authUrl"]
        assert auth_url.startswith(f"{live.app_url}/sandbox/google/oauth/")
        answer = connect(live)  # Google's consent screen, served by the embedded sandbox
        assert answer.headers["location"].endswith("outcome=connected")

        # Outlook: msal reaches the embedded sandbox over serve's own TLS listener, while the
        # browser gets the consent page on the plain one.
        with live.api() as api:
            auth_url = api.get("/calendar/microsoft/connect").json()["authUrl"]
        assert auth_url.startswith(f"{live.app_url}/sandbox/microsoft/login/")
        answer = connect(live, provider="microsoft")
        assert answer.headers["location"].endswith("outcome=connected")
        with live.api() as api:
            providers = [
                i["provider"] for i in api.get("/calendar/integrations").json()["integrations"]
            ]
        assert providers == ["google", "microsoft"]
