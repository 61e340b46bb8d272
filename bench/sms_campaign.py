"""SMS campaign benchmark: a 5,000-recipient campaign through the product against the provider
sandbox (50 messages/s allowed, 100 ms per answer), compared with the Node version's way: one
blocking send per recipient in a loop.

Prints the campaign's wall time against the ideal N / MPS, the provider's 429 answers, duplicates
in the sandbox ledger, and the one-by-one loop's time and the speed-up.
    python -m bench.sms_campaign [--recipients N] [--mps R] [--latency-ms L]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.live import SANDBOX_FROM, LiveStack, live_stack, wait_until

from bench.databases import add_database_option, use_database
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.integrations.twilio.adapter import TwilioSmsSender


def _phone(i: int) -> str:
    return f"+1312555{i:04d}"  # up to 10,000 distinct valid numbers


def _add_clients(live: LiveStack, count: int) -> list[str]:
    with live.session() as session:
        clients = [
            Client(
                first_name="Bench",
                last_name=str(i),
                phone=_phone(i),
                timezone="America/Chicago",
                sms_consent=True,
            )
            for i in range(count)
        ]
        session.add_all(clients)
        session.commit()
        return [c.id for c in clients]


def _sent(live: LiveStack) -> int:
    with live.session() as session:
        stmt = (
            select(func.count())
            .select_from(Communication)
            .where(Communication.status.in_(("sent", "delivered")))
        )
        return session.scalar(stmt) or 0


def start_sms_campaign(live: LiveStack, client_ids: list[str]) -> None:
    """POST /comms/bulk: one SMS to each of `client_ids`, as the admin."""
    with live.api() as api:
        api.post(
            "/comms/bulk",
            json={"type": "sms", "client_ids": client_ids, "body": "Office closed Monday."},
        ).raise_for_status()


def _stats(live: LiveStack) -> dict[str, int]:
    with live.sandbox() as sandbox:
        stats: dict[str, int] = sandbox.get("/_sandbox/stats").json()
        return stats


def run(recipients: int, mps: float, latency_ms: int, *, one_by_one: bool = True) -> None:
    settings = {"TWILIO_MPS": str(mps), "WORKER_THREADS": "16", "LOG_LEVEL": "WARNING"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings=settings, separate_worker=True) as live,
    ):
        live.configure_sandbox(mps=mps, latency_ms=latency_ms)
        client_ids = _add_clients(live, recipients)

        started = time.perf_counter()
        start_sms_campaign(live, client_ids)
        # Poll gently: on SQLite every check takes the write lock for a moment.
        wait_until(lambda: _sent(live) > 0, timeout=60, interval=0.1)
        first = time.perf_counter() - started
        deadline = recipients / mps * 3 + 60
        if not wait_until(lambda: _sent(live) >= recipients, timeout=deadline, interval=0.5):
            raise SystemExit(f"campaign stalled at {_sent(live)} of {recipients}")
        wall = time.perf_counter() - started
        ledger = live.ledger()
        duplicates = len(ledger) - len({m["to"] for m in ledger})
        too_many = _stats(live).get("rejected_429", 0)

        with live.sandbox() as sandbox:
            sandbox.post("/_sandbox/reset").raise_for_status()
        live.configure_sandbox(mps=mps, latency_ms=latency_ms)
        sid, token = live.sandbox_auth
        sender = TwilioSmsSender(
            account_sid=sid,
            auth_token=token,
            from_number=SANDBOX_FROM,
            api_base=f"{live.sandbox_url}/twilio",
        )
        started = time.perf_counter()
        for i in range(recipients if one_by_one else 0):
            sender.send(_phone(i), "Office closed Monday.", status_callback=None)
        one_by_one_wall = time.perf_counter() - started

    ideal = recipients / mps
    print(
        f"SMS campaign: {recipients} recipients, sandbox limit {mps:g}/s, latency {latency_ms} ms"
    )
    print(f"  wall time              {wall:8.1f} s")
    print(f"  first message sent at  {first:8.1f} s")
    print(f"  ideal (N / MPS)        {ideal:8.1f} s")
    print(f"  ratio                  {wall / ideal:8.2f}   (target <= 1.05)")
    print(f"  provider 429s          {too_many:8d}   (target 0)")
    print(f"  ledger duplicates      {duplicates:8d}   (target 0)")
    if one_by_one:
        print(f"  one by one (Node way)  {one_by_one_wall:8.1f} s")
        print(f"  speed-up               {one_by_one_wall / wall:8.1f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--mps", type=float, default=50.0)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument(
        "--no-seed-loop",
        action="store_true",
        help="skip the slow one-by-one comparison (the Node version's loop)",
    )
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.recipients <= 10_000:
        parser.error("--recipients must be between 1 and 10,000")
    use_database(args.database)
    run(args.recipients, args.mps, args.latency_ms, one_by_one=not args.no_seed_loop)


if __name__ == "__main__":
    main()
