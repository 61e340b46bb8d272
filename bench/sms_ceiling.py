"""SMS pipeline ceiling: how many messages a second the product carries end to end when the
provider does not limit it, and what each message costs each process in CPU.

A campaign of `--recipients` SMS through `proirp serve` + `proirp worker` against
`proirp sandbox` with its rate limit lifted (100 ms per answer, both status callbacks on: sent,
then delivered). The clock runs from the campaign's POST until every message is `delivered`, so
both callbacks of every message are inside it. The CPU each process used over that time (from
/proc: the API, the worker, the sandbox, and PostgreSQL's server processes when it is the
database: every PostgreSQL process on the machine, so run it on an otherwise idle one) is
divided by the messages: the per-message CPU budget.
    python -m bench.sms_ceiling [--recipients N] [--worker-threads T] [--database ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.live import LiveStack, live_stack, wait_until

from bench.cpu import stack_cpu
from bench.databases import add_database_option, use_database
from bench.sms_campaign import _add_clients, start_sms_campaign
from proirp.comms.models import Communication


def _cpu(live: LiveStack, postgres: bool) -> dict[str, float]:
    return stack_cpu(live, ("serve", "worker", "sandbox"), postgres=postgres)


def _delivered(live: LiveStack) -> int:
    with live.session() as session:
        stmt = (
            select(func.count())
            .select_from(Communication)
            .where(Communication.status == "delivered")
        )
        return session.scalar(stmt) or 0


def run(recipients: int, worker_threads: int) -> None:
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    settings = {
        "TWILIO_MPS": "100000",
        "WORKER_THREADS": str(worker_threads),
        "LOG_LEVEL": "WARNING",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings=settings, separate_worker=True) as live,
    ):
        live.configure_sandbox(mps=None, latency_ms=100)  # no limit
        client_ids = _add_clients(live, recipients)
        before = _cpu(live, postgres)
        started = time.perf_counter()
        start_sms_campaign(live, client_ids)
        if not wait_until(lambda: _delivered(live) >= recipients, timeout=900, interval=0.5):
            raise SystemExit(f"stalled at {_delivered(live)} delivered of {recipients}")
        wall = time.perf_counter() - started
        after = _cpu(live, postgres)
        ledger = live.ledger()

    print(f"SMS pipeline ceiling: {recipients} recipients, sandbox unlimited, 100 ms per answer")
    print(f"  wall time to the last delivered  {wall:8.1f} s")
    print(f"  messages per second, end to end  {recipients / wall:8.1f}   (target >= 200)")
    print(f"  ledger: {len(ledger)} sent, {len(ledger) - len({m['to'] for m in ledger})} twice")
    print("  CPU per message, by process (ms):")
    total = 0.0
    for name in after:
        per_message = (after[name] - before[name]) / recipients * 1000
        total += per_message
        print(f"    {name:<9} {per_message:7.2f}")
    print(f"    {'all':<9} {total:7.2f}   (2 cores allow {2000 / total:.0f} messages/s at most)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--worker-threads", type=int, default=16)
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.recipients <= 10_000:
        parser.error("--recipients must be between 1 and 10,000")
    use_database(args.database)
    run(args.recipients, args.worker_threads)


if __name__ == "__main__":
    main()
