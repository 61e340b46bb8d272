"""Calendar sync benchmark: 10,000 events in the sandbox's Google calendar, synced by the product.

Prints the API calls of the first (full) sync (target ceil(10,000 / 2,500) = 4 pages; the product
reads the primary calendar and does not list calendars) and of an incremental sync after 10
changes on Google's side (target 1), with their wall times.
    python -m bench.calendar_sync [--events N] [--latency-ms L]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.calendars.dance import ACCOUNT, connect, integrations
from tests.live import LiveStack, live_stack, wait_until

from bench.databases import add_database_option, use_database


def _synced_after(live: LiveStack, previous: object) -> float:
    started = time.perf_counter()

    def done() -> bool:
        rows = integrations(live)
        return bool(rows) and rows[0]["last_synced_at"] not in (None, previous)

    if not wait_until(done, timeout=600, interval=0.1):
        raise SystemExit(f"sync did not finish: {integrations(live)}")
    return time.perf_counter() - started


def run(events: int, latency_ms: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings={"LOG_LEVEL": "WARNING"}) as live,
    ):
        start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        with live.google() as google:
            google.post("/config", json={"latency_ms": latency_ms}).raise_for_status()
            # Spread over the sync window: one event every 25 minutes fits 10,000 in 174 days.
            seeded = [
                {
                    "summary": f"Session {i}",
                    "start": {"dateTime": (start + timedelta(minutes=25 * i)).isoformat()},
                    "end": {"dateTime": (start + timedelta(minutes=25 * i + 20)).isoformat()},
                }
                for i in range(events)
            ]
            ids = google.post("/events", json={"account": ACCOUNT, "events": seeded}).json()["ids"]
        connect(live)  # the first sync starts as soon as the calendar is connected
        full_wall = _synced_after(live, None)
        full_calls = live.google_stats()["events_list"]
        last = integrations(live)[0]["last_synced_at"]
        with live.google() as google:
            for event_id in ids[:10]:
                google.patch(f"/events/{event_id}", json={"summary": "Moved"}).raise_for_status()
        with live.api() as api:
            api.post("/calendar/integrations/google/sync").raise_for_status()
        incremental_wall = _synced_after(live, last)
        incremental_calls = live.google_stats()["events_list"] - full_calls

    pages = math.ceil(events / 2500)
    print(f"Calendar sync: {events} events in Google's sandbox, {latency_ms} ms per call")
    print(f"  full sync: API calls   {full_calls:8d}   (target {pages})")
    print(f"  full sync: wall time   {full_wall:8.1f} s")
    print(f"  incremental after 10 changes: API calls {incremental_calls:3d}   (target 1)")
    print(f"  incremental: wall time {incremental_wall:8.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.events <= 10_000:
        parser.error("--events must be between 1 and 10,000")
    use_database(args.database)
    run(args.events, args.latency_ms)


if __name__ == "__main__":
    main()
