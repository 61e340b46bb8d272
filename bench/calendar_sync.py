"""Calendar sync benchmark: 10,000 events in the sandbox's Google calendar and Outlook mailbox,
synced by the product.

For each provider it prints the API calls of the first (full) sync and their wall time, then those
of an incremental sync after 10 changes on the provider's side (target 1 call). Targets for the
full sync: Google ceil(10,000 / 2,500) = 4 pages of events.list (the product reads the primary
calendar and does not list calendars); Microsoft ceil(10,000 / 500) = 20 pages of
calendarView/delta (the page size the product asks for with `Prefer: odata.maxpagesize`).
    python -m bench.calendar_sync [--events N] [--latency-ms L] [--provider google|microsoft]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.calendars.dance import ACCOUNT, OUTLOOK_ACCOUNT, connect, integrations
from tests.live import LiveStack, live_stack, wait_until

from bench.databases import add_database_option, use_database

GOOGLE_PAGE = 2500
GRAPH_PAGE = 500


@dataclass(frozen=True)
class Result:
    full_calls: int
    full_wall: float
    incremental_calls: int
    incremental_wall: float


def _synced_after(live: LiveStack, previous: object) -> float:
    started = time.perf_counter()

    def done() -> bool:
        rows = integrations(live)
        return bool(rows) and rows[0]["last_synced_at"] not in (None, previous)

    if not wait_until(done, timeout=600, interval=0.1):
        raise SystemExit(f"sync did not finish: {integrations(live)}")
    return time.perf_counter() - started


def _slots(events: int) -> list[tuple[datetime, datetime]]:
    """Spread over the sync window: one event every 25 minutes fits 10,000 in 174 days."""
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return [
        (start + timedelta(minutes=25 * i), start + timedelta(minutes=25 * i + 20))
        for i in range(events)
    ]


def _measure(
    live: LiveStack, provider: str, calls: Callable[[], int], change: Callable[[], None]
) -> Result:
    connect(live, provider=provider)  # the first sync starts as soon as the calendar is connected
    full_wall = _synced_after(live, None)
    full_calls = calls()
    last = integrations(live)[0]["last_synced_at"]
    change()
    with live.api() as api:
        api.post(f"/calendar/integrations/{provider}/sync").raise_for_status()
    incremental_wall = _synced_after(live, last)
    return Result(full_calls, full_wall, calls() - full_calls, incremental_wall)


def _google(live: LiveStack, events: int, latency_ms: int) -> Result:
    with live.google() as google:
        google.post("/config", json={"latency_ms": latency_ms}).raise_for_status()
        seeded = [
            {
                "summary": f"Session {i}",
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": end.isoformat()},
            }
            for i, (start, end) in enumerate(_slots(events))
        ]
        ids = google.post("/events", json={"account": ACCOUNT, "events": seeded}).json()["ids"]

    def change() -> None:
        with live.google() as google:
            for event_id in ids[:10]:
                google.patch(f"/events/{event_id}", json={"summary": "Moved"}).raise_for_status()

    return _measure(live, "google", lambda: int(live.google_stats()["events_list"]), change)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _microsoft(live: LiveStack, events: int, latency_ms: int) -> Result:
    with live.microsoft() as microsoft:
        microsoft.post("/config", json={"latency_ms": latency_ms}).raise_for_status()
        seeded = [
            {"subject": f"Session {i}", "start": _graph_time(start), "end": _graph_time(end)}
            for i, (start, end) in enumerate(_slots(events))
        ]
        ids = microsoft.post("/events", json={"account": OUTLOOK_ACCOUNT, "events": seeded}).json()[
            "ids"
        ]

    def change() -> None:
        with live.microsoft() as microsoft:
            for event_id in ids[:10]:
                microsoft.patch(f"/events/{event_id}", json={"subject": "Moved"}).raise_for_status()

    return _measure(live, "microsoft", lambda: int(live.microsoft_stats()["delta_pages"]), change)


def run(events: int, latency_ms: int, providers: list[str]) -> None:
    targets = {
        "google": math.ceil(events / GOOGLE_PAGE),
        "microsoft": math.ceil(events / GRAPH_PAGE),
    }
    for provider in providers:
        with (
            tempfile.TemporaryDirectory() as tmp,
            live_stack(Path(tmp), settings={"LOG_LEVEL": "WARNING"}) as live,
        ):
            measure = _google if provider == "google" else _microsoft
            result = measure(live, events, latency_ms)
        name = "Google Calendar" if provider == "google" else "Outlook (Graph)"
        print(f"Calendar sync: {events} events in the sandbox's {name}, {latency_ms} ms per call")
        print(f"  full sync: API calls   {result.full_calls:8d}   (target {targets[provider]})")
        print(f"  full sync: wall time   {result.full_wall:8.1f} s")
        print(
            f"  incremental after 10 changes: API calls {result.incremental_calls:3d}   (target 1)"
        )
        print(f"  incremental: wall time {result.incremental_wall:8.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--provider", choices=("google", "microsoft"), action="append")
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.events <= 10_000:
        parser.error("--events must be between 1 and 10,000")
    use_database(args.database)
    run(args.events, args.latency_ms, args.provider or ["google", "microsoft"])


if __name__ == "__main__":
    main()
