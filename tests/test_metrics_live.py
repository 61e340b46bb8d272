"""Metrics as a Prometheus server scrapes them: `proirp serve`'s /metrics behind METRICS_TOKEN
and `proirp worker`'s own port, real processes against the provider sandbox. After an SMS to a
client goes out and is delivered, both show it, and neither holds anything of the client's."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from proirp.clients.models import Client
from tests.comms.conftest import send, wait_for_status
from tests.live import BIN, LiveStack, free_port, live_stack
from tests.test_metrics import sample

TOKEN = "live-metrics-token-0123456789abcdef"
NAME = ("Zebediah", "Quillfeather")
PHONE = "+12025550187"
EMAIL = "zebediah.quillfeather@example.com"
BODY = "Marmalade umbrella nine"


@dataclass
class Sent:
    live: LiveStack
    worker_url: str
    client_id: str
    comm_id: str


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    port = free_port()
    settings = {
        "METRICS_ENABLED": "true",
        "METRICS_TOKEN": TOKEN,
        "METRICS_WORKER_PORT": str(port),
    }
    tmp = tmp_path_factory.mktemp("metrics-live")
    with live_stack(tmp, separate_worker=True, settings=settings) as live:
        with live.session() as session:
            client = Client(
                first_name=NAME[0],
                last_name=NAME[1],
                phone=PHONE,
                email=EMAIL,
                timezone="America/Chicago",
                sms_consent=True,
            )
            session.add(client)
            session.commit()
        response = send(live, client.id, BODY)
        assert response.status_code == 202, response.text
        comm_id = response.json()["communication"]["id"]
        wait_for_status(live, comm_id, {"delivered"})
        yield Sent(live, f"http://127.0.0.1:{port}/metrics", client.id, comm_id)


def api_metrics(sent: Sent) -> str:
    response = httpx.get(
        f"{sent.live.app_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    return response.text


def worker_metrics(sent: Sent) -> str:
    response = httpx.get(sent.worker_url, timeout=10)
    assert response.status_code == 200
    return response.text


def test_the_api_shows_the_delivered_message_to_its_token_only(sent: Sent) -> None:
    text = api_metrics(sent)
    assert sample(text, "proirp_messages", channel="sms", status="delivered") == 1
    assert sample(text, "proirp_messages", channel="sms", status="queued") == 0
    assert sample(text, "proirp_queue_oldest_message_age_seconds") == 0
    assert (sample(text, "proirp_audit_rows_appended_total") or 0) >= 1  # SMS_QUEUED at least
    assert httpx.get(f"{sent.live.app_url}/metrics").status_code == 401
    with sent.live.api() as api:  # a member of staff's sign-in is no metrics token
        assert api.get("/metrics").status_code == 401


def test_the_worker_serves_its_provider_calls_on_its_own_port(sent: Sent) -> None:
    text = worker_metrics(sent)
    calls = sample(text, "proirp_provider_call_seconds_count", provider="twilio", operation="send")
    assert calls is not None and calls >= 1
    assert (sample(text, "proirp_audit_rows_appended_total") or 0) >= 1  # SMS_SENT
    assert "process_cpu_seconds_total" in text
    # The database's gauges are the API's to serve, not each worker's.
    assert "proirp_messages{" not in text


def test_a_forged_webhook_is_counted(sent: Sent) -> None:
    labels = {"source": "twilio/status", "reason": "bad_signature"}
    before = sample(api_metrics(sent), "proirp_webhook_rejections_total", **labels) or 0
    forged = httpx.post(
        f"{sent.live.app_url}/webhooks/twilio/status?ref={sent.comm_id}",
        data={"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "To": PHONE},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert forged.status_code == 403
    after = sample(api_metrics(sent), "proirp_webhook_rejections_total", **labels)
    assert after == before + 1


def test_nothing_of_the_client_is_in_either_process_metrics(sent: Sent) -> None:
    for text in (api_metrics(sent), worker_metrics(sent)):
        for value in (*NAME, PHONE, PHONE[2:], EMAIL, "quillfeather", BODY, sent.client_id):
            assert value not in text, value
        assert TOKEN not in text and sent.live.token not in text


def test_a_worker_port_in_use_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "METRICS_ENABLED": "true",
            "METRICS_WORKER_PORT": str(port),
            "PROIRP_DATA_DIR": str(tmp_path / "data"),
        }
        env.pop("DATABASE_URL", None)
        done = subprocess.run(  # noqa: S603 (our own console script)
            [str(BIN / "proirp"), "worker"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"METRICS_WORKER_PORT {port}" in done.stderr
    assert "Traceback" not in done.stderr
