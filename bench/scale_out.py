"""Scale-out benchmark: the production shape on one machine, two `proirp serve` and three
`proirp worker` processes on PostgreSQL + Redis, sending one SMS campaign against
`proirp sandbox` (50 messages/s allowed, 100 ms per answer).

Two runs of `--recipients` each: all processes up throughout; then one worker killed with
SIGKILL when half the campaign is sent. Each run prints the wall time against the ideal N / MPS,
whether the sandbox's ledger holds every message exactly once, and the busiest second of the
ledger against the MPS (and the sandbox's 429 answers, which it gives to anything faster).
    python -m bench.scale_out [--recipients N] [--mps R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.live import LiveStack, free_port, live_stack, wait_until

from bench.databases import use_database
from bench.sms_campaign import _add_clients, _sent, _stats, start_sms_campaign

WORKERS = 3


def _start_more(live: LiveStack) -> None:
    """A second API process and two more workers, beside the stack's own."""
    port = free_port()
    live.start("serve-2", "serve", "--port", str(port), "--no-embedded-worker")
    for n in range(2, WORKERS + 1):
        live.start(f"worker-{n}", "worker")
    live.wait_healthy(f"http://127.0.0.1:{port}/healthz")


def _campaign(live: LiveStack, recipients: int, mps: float, *, kill_halfway: bool) -> None:
    with live.sandbox() as sandbox:
        sandbox.post("/_sandbox/reset").raise_for_status()
    live.configure_sandbox(mps=mps, latency_ms=100)
    client_ids = _add_clients(live, recipients)
    before = _sent(live)
    started = time.perf_counter()
    start_sms_campaign(live, client_ids)
    if kill_halfway:
        if not wait_until(
            lambda: _sent(live) - before >= recipients // 2, timeout=3600, interval=0.2
        ):
            raise SystemExit(f"campaign stalled at {_sent(live) - before} of {recipients}")
        live.processes[f"worker-{WORKERS}"].kill()
        killed_at = time.perf_counter() - started
    deadline = recipients / mps * 3 + 120
    if not wait_until(lambda: _sent(live) - before >= recipients, timeout=deadline, interval=0.5):
        raise SystemExit(f"campaign stalled at {_sent(live) - before} of {recipients}")
    wall = time.perf_counter() - started
    ledger = live.ledger()
    per_second = Counter(m["date_created"] for m in ledger)
    twice = len(ledger) - len({m["to"] for m in ledger})
    ideal = recipients / mps
    title = "one worker killed with SIGKILL halfway" if kill_halfway else "all processes up"
    print(f"  {title}:")
    if kill_halfway:
        print(f"    worker killed at         {killed_at:8.1f} s")
    print(f"    wall time                {wall:8.1f} s   ideal (N / MPS) {ideal:.1f} s")
    print(f"    ratio                    {wall / ideal:8.2f}   (target <= 1.10)")
    print(f"    ledger: messages         {len(ledger):8d}   (target {recipients})")
    print(f"    ledger: sent twice       {twice:8d}   (target 0)")
    print(f"    busiest second           {max(per_second.values()):8d}   (target <= {mps:g})")
    print(f"    provider 429s            {_stats(live).get('rejected_429', 0):8d}   (target 0)")


def run(recipients: int, mps: float) -> None:
    settings = {"TWILIO_MPS": str(mps), "WORKER_THREADS": "16", "LOG_LEVEL": "WARNING"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings=settings, separate_worker=True) as live,
    ):
        try:
            _start_more(live)
            print(
                f"Scale-out: 2 API processes, {WORKERS} workers, {recipients:,} SMS,"
                f" sandbox limit {mps:g}/s, 100 ms per answer"
            )
            _campaign(live, recipients, mps, kill_halfway=False)
            _campaign(live, recipients, mps, kill_halfway=True)
        finally:
            for name in ["serve-2", *(f"worker-{n}" for n in range(2, WORKERS + 1))]:
                process = live.processes.get(name)
                if process is not None:
                    process.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--mps", type=float, default=50.0)
    args = parser.parse_args(argv)
    if not 0 < args.recipients <= 10_000:
        parser.error("--recipients must be between 1 and 10,000")
    use_database("postgres")
    run(args.recipients, args.mps)


if __name__ == "__main__":
    main()
