"""Email campaign benchmark: a 10,000-recipient campaign through the product against the provider
sandbox's SendGrid (200 ms per call), compared with the Node version's way: one `send` per
recipient.

Prints the provider calls (target: ceil(N / 1,000) = 10), the wall time, the ideal (10 calls'
latency plus the database work, measured by the same campaign with no latency), their ratio, and
the one-by-one loop's time (measured on a sample and extrapolated, unless --seed-all) and the
speed-up.
    python -m bench.email_campaign [--recipients N] [--latency-ms L] [--seed-sample S]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.live import LiveStack, live_stack, wait_until

from bench.databases import add_database_option, use_database
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.config.sandbox_credentials import SANDBOX_SENDGRID_API_KEY
from proirp.integrations.base import EmailBatch, EmailRecipient
from proirp.integrations.sendgrid.adapter import SendGridEmailSender

SUBJECT = "Office closed Monday"
TEXT = "Our office is closed on Monday. Please call us to reschedule."


def _add_clients(live: LiveStack, count: int) -> list[str]:
    with live.session() as session:
        clients = [
            Client(
                first_name="Bench",
                last_name=str(i),
                email=f"client{i}@bench.example.com",
                timezone="America/Chicago",
                email_consent=True,
            )
            for i in range(count)
        ]
        session.add_all(clients)
        session.commit()
        return [c.id for c in clients]


def _sent(live: LiveStack, campaign_id: str) -> int:
    with live.session() as session:
        stmt = (
            select(func.count())
            .select_from(Communication)
            .where(
                Communication.campaign_id == campaign_id,
                Communication.status.in_(("sent", "delivered")),
            )
        )
        return session.scalar(stmt) or 0


def _campaign(live: LiveStack, client_ids: list[str], latency_ms: int) -> tuple[float, int]:
    """Run one campaign to the end; (wall seconds, provider calls)."""
    with live.sendgrid() as sendgrid:
        sendgrid.post("/_sandbox/reset").raise_for_status()
    # Sending is measured; the Event Webhook's traffic (tested elsewhere) would blur it.
    live.configure_sendgrid(latency_ms=latency_ms, events=False)
    started = time.perf_counter()
    with live.api() as api:
        response = api.post(
            "/comms/bulk",
            json={"type": "email", "client_ids": client_ids, "subject": SUBJECT, "body": TEXT},
        )
    response.raise_for_status()
    campaign_id = response.json()["campaign"]["id"]
    total = len(client_ids)
    if not wait_until(lambda: _sent(live, campaign_id) >= total, timeout=600, interval=0.25):
        raise SystemExit(f"campaign stalled at {_sent(live, campaign_id)} of {total}")
    wall = time.perf_counter() - started
    return wall, live.email_stats()["requests"]


def _one_by_one(live: LiveStack, count: int, latency_ms: int) -> float:
    """The Node version's sendBulkEmails: one mail/send per recipient, one after another."""
    live.configure_sendgrid(latency_ms=latency_ms, events=False)
    sender = SendGridEmailSender(
        api_key=SANDBOX_SENDGRID_API_KEY, api_base=f"{live.sandbox_url}/sendgrid"
    )
    started = time.perf_counter()
    for i in range(count):
        sender.send(
            EmailBatch(
                from_email="frontdesk@lakeside.example.com",
                from_name=None,
                recipients=[EmailRecipient(to=f"client{i}@bench.example.com", reference=str(i))],
                subject=SUBJECT,
                text=TEXT,
            )
        )
    return time.perf_counter() - started


def run(recipients: int, latency_ms: int, *, one_by_one_sample: int) -> None:
    settings = {"WORKER_THREADS": "8", "LOG_LEVEL": "WARNING"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings=settings, separate_worker=True) as live,
    ):
        client_ids = _add_clients(live, recipients)
        # The database work: the same campaign with no provider latency (first, so any warm-up
        # counts against the baseline, not against the measured run).
        baseline, _ = _campaign(live, client_ids, 0)
        wall, calls = _campaign(live, client_ids, latency_ms)
        sample = min(one_by_one_sample, recipients)
        sample_wall = _one_by_one(live, sample, latency_ms) if sample else 0.0

    expected_calls = math.ceil(recipients / 1000)
    ideal = expected_calls * latency_ms / 1000 + baseline
    print(f"Email campaign: {recipients} recipients, sandbox latency {latency_ms} ms per call")
    print(f"  provider calls         {calls:8d}   (target {expected_calls})")
    print(f"  wall time              {wall:8.1f} s")
    print(f"  database work          {baseline:8.1f} s   (the same campaign, no latency)")
    print(f"  ideal                  {ideal:8.1f} s   ({expected_calls} x latency + database work)")
    print(f"  ratio                  {wall / ideal:8.2f}")
    if sample:
        one_by_one_wall = sample_wall * recipients / sample
        how = "measured" if sample == recipients else f"extrapolated from {sample} sends"
        print(f"  one by one (Node way)  {one_by_one_wall:8.1f} s   ({how})")
        print(f"  speed-up               {one_by_one_wall / wall:8.1f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument(
        "--seed-sample", type=int, default=200, help="one-by-one sends to time (0: skip)"
    )
    parser.add_argument(
        "--seed-all", action="store_true", help="time the one-by-one loop for every recipient"
    )
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.recipients <= 10_000:
        parser.error("--recipients must be between 1 and 10,000")
    use_database(args.database)
    sample = args.recipients if args.seed_all else args.seed_sample
    run(args.recipients, args.latency_ms, one_by_one_sample=sample)


if __name__ == "__main__":
    main()
