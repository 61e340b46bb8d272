"""A worker killed with SIGKILL in the middle of a campaign: after a restart every message is at
the provider exactly once, and the database agrees with the provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from proirp.clients.models import Client
from proirp.comms.models import Communication
from tests.live import live_stack, wait_until

RECIPIENTS = 500


def test_sigkilled_worker_sends_each_message_exactly_once(tmp_path: Path) -> None:
    # Slow enough (10 s in all) that the kill lands mid-campaign on any machine.
    settings = {"TWILIO_MPS": "50", "WORKER_THREADS": "8", "RECONCILE_AFTER_SECONDS": "4"}
    with live_stack(tmp_path, separate_worker=True, settings=settings) as live:
        live.configure_sandbox(latency_ms=30)
        with live.session() as session:
            clients = [
                Client(
                    first_name="C",
                    last_name=f"{i}",
                    phone=f"+1312555{i:04d}",
                    timezone="America/Chicago",
                    sms_consent=True,
                )
                for i in range(RECIPIENTS)
            ]
            session.add_all(clients)
            session.commit()
            client_ids = [c.id for c in clients]

        with live.api() as api:
            response = api.post(
                "/comms/bulk",
                json={"type": "sms", "client_ids": client_ids, "body": "Office closed Monday."},
            )
        assert response.status_code == 202, response.text

        if not wait_until(lambda: len(live.ledger()) >= RECIPIENTS // 4, timeout=60):
            pytest.fail("the campaign did not start sending")
        live.processes["worker"].kill()
        at_kill = len(live.ledger())
        assert at_kill < RECIPIENTS, "the campaign finished before the worker could be killed"

        wait_until(lambda: False, timeout=4.5)  # let claimed rows age past the reconcile window
        live.start("worker", "worker")

        def all_final() -> bool:
            with live.session() as session:
                statuses = session.scalars(select(Communication.status)).all()
            return len(statuses) == RECIPIENTS and set(statuses) == {"delivered"}

        assert wait_until(all_final, timeout=150, interval=0.5), "messages left unfinished"

        ledger = live.ledger()
        assert len(ledger) == RECIPIENTS
        assert len({m["to"] for m in ledger}) == RECIPIENTS  # nobody twice
        with live.session() as session:
            rows = session.scalars(select(Communication)).all()
        assert {r.provider_message_id for r in rows} == {m["sid"] for m in ledger}
        assert {r.to_address for r in rows} == {m["to"] for m in ledger}
