"""With no Twilio credentials, `proirp serve` is in sandbox mode: it serves the provider sandbox
under /sandbox and sends to it, so a message goes all the way round on one process."""

from __future__ import annotations

from pathlib import Path

import httpx

from proirp.config import SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN
from tests.comms.conftest import add_client, send, wait_for_status
from tests.live import live_stack


def test_embedded_sandbox_delivers_and_health_says_so(tmp_path: Path) -> None:
    no_twilio = {"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "TWILIO_PHONE_NUMBER": ""}
    with live_stack(tmp_path, settings=no_twilio) as live:
        health = httpx.get(f"{live.app_url}/healthz").json()
        assert health["mode"] == "sandbox mode"
        assert health["providers"]["twilio"] == "sandbox"

        comm_id = send(live, add_client(live, "+12025550143")).json()["communication"]["id"]
        final = wait_for_status(live, comm_id, {"delivered"})
        assert final["provider_message_id"].startswith("SM")

        embedded = httpx.get(
            f"{live.app_url}/sandbox/twilio/_sandbox/ledger",
            auth=(SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN),
        ).json()["messages"]
        assert [m["to"] for m in embedded] == ["+12025550143"]
        assert live.ledger() == []  # the separate sandbox process saw nothing
