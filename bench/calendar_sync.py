"""Calendar sync benchmark: 10,000 events in the sandbox's Google calendar and Outlook mailbox,
synced by the product.

For each provider it prints the API calls of the first (full) sync and their wall time, then those
of an incremental sync after 10 changes on the provider's side (target 1 call). Targets for the
full sync: Google ceil(10,000 / 2,500) = 4 pages of events.list (the product reads the primary
calendar and does not list calendars); Microsoft ceil(10,000 / 500) = 20 pages of
calendarView/delta (the page size the product asks for with `Prefer: odata.maxpagesize`).

Then push: the delay from a change made at the provider (the sandbox) to the product's cache,
by notification (target <= 5 s), over --push-changes changes one at a time; and the provider
calls a day for 1,000 calendars with and without push, computed from the calls per sync
measured here and the schedule (printed with the formula).
    python -m bench.calendar_sync [--events N] [--latency-ms L] [--provider google|microsoft]
        [--push-changes N] [--changes-per-day N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import select
from tests.calendars.dance import ACCOUNT, OUTLOOK_ACCOUNT, connect, integrations
from tests.live import LiveStack, live_stack, wait_until

from bench.databases import add_database_option, use_database
from proirp.calendars.models import CalendarPushChannel

GOOGLE_PAGE = 2500
GRAPH_PAGE = 500


CALENDARS = 1000
POLLS_A_DAY = 24 * 60 // 5  # every 5 minutes, without push
SAFETY_POLLS_A_DAY = 1  # with healthy push
# Channel upkeep a day: Google replaces a channel (watch + stop) and Graph renews a
# subscription (one PATCH) a day before its week ends: every 6 days.
UPKEEP_A_DAY = {"google": 2 / 6, "microsoft": 1 / 6}


@dataclass(frozen=True)
class Result:
    full_calls: int
    full_wall: float
    incremental_calls: int
    incremental_wall: float
    push_delays: list[float]
    push_calls: int  # list/delta calls the pushed syncs made


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


def _push_ready(live: LiveStack, provider: str) -> None:
    def ready() -> bool:
        with live.session() as session:
            row = session.scalar(
                select(CalendarPushChannel).where(CalendarPushChannel.provider == provider)
            )
            return row is not None and row.state == "active"

    if not wait_until(ready, timeout=60, interval=0.1):
        raise SystemExit("push was not set up")


def _cached(live: LiveStack, title: str) -> bool:
    start = datetime.now(UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=200)
    with live.api() as api:
        events = api.get(
            "/calendar/events", params={"start": start.isoformat(), "end": end.isoformat()}
        ).json()["events"]
    return any(e["title"] == title for e in events)


def _push_delays(
    live: LiveStack, calls: Callable[[], int], rename: Callable[[str], None], changes: int
) -> tuple[list[float], int]:
    """Each change made at the provider, then the seconds until the cache shows it."""
    before = calls()
    delays = []
    for index in range(changes):
        title = f"Pushed {index}"
        began = time.perf_counter()
        rename(title)
        if not wait_until(partial(_cached, live, title), timeout=120, interval=0.05):
            raise SystemExit(f"{title} never reached the cache")
        delays.append(time.perf_counter() - began)
        time.sleep(1.5)  # let the next change be its own burst
    return delays, calls() - before


def _measure(
    live: LiveStack,
    provider: str,
    calls: Callable[[], int],
    change: Callable[[], None],
    rename: Callable[[str], None],
    push_changes: int,
) -> Result:
    connect(live, provider=provider)  # the first sync starts as soon as the calendar is connected
    full_wall = _synced_after(live, None)
    full_calls = calls()
    last = integrations(live)[0]["last_synced_at"]
    change()
    with live.api() as api:
        api.post(f"/calendar/integrations/{provider}/sync").raise_for_status()
    incremental_wall = _synced_after(live, last)
    incremental_calls = calls() - full_calls
    _push_ready(live, provider)
    time.sleep(3)  # the notifications of the 10 changes above have been acted on
    delays, push_calls = _push_delays(live, calls, rename, push_changes)
    return Result(full_calls, full_wall, incremental_calls, incremental_wall, delays, push_calls)


def _google(live: LiveStack, events: int, latency_ms: int, push_changes: int) -> Result:
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

    def rename(title: str) -> None:
        with live.google() as google:
            google.patch(f"/events/{ids[-1]}", json={"summary": title}).raise_for_status()

    calls = lambda: int(live.google_stats()["events_list"])  # noqa: E731
    return _measure(live, "google", calls, change, rename, push_changes)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _microsoft(live: LiveStack, events: int, latency_ms: int, push_changes: int) -> Result:
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

    def rename(title: str) -> None:
        with live.microsoft() as microsoft:
            microsoft.patch(f"/events/{ids[-1]}", json={"subject": title}).raise_for_status()

    calls = lambda: int(live.microsoft_stats()["delta_pages"])  # noqa: E731
    return _measure(live, "microsoft", calls, change, rename, push_changes)


def _report_push(provider: str, result: Result, changes_per_day: int) -> None:
    delays = sorted(result.push_delays)
    median = statistics.median(delays)
    print(
        f"  push: change at the provider -> cache, {len(delays)} changes: median "
        f"{median:.2f} s, max {delays[-1]:.2f} s   (target <= 5 s)"
    )
    per_sync = result.push_calls / len(delays)
    incremental = max(result.incremental_calls, 1)
    polling = CALENDARS * POLLS_A_DAY * incremental
    syncs = SAFETY_POLLS_A_DAY + changes_per_day
    pushed = CALENDARS * (syncs * per_sync + UPKEEP_A_DAY[provider])
    print(f"  provider calls a day, {CALENDARS:,} calendars:")
    print(
        f"    polling every 5 minutes: {CALENDARS:,} x {POLLS_A_DAY} polls x "
        f"{incremental} call(s) per incremental sync = {polling:,.0f}"
    )
    print(
        f"    with push: {CALENDARS:,} x ({SAFETY_POLLS_A_DAY} safety poll + {changes_per_day} "
        f"changed bursts) x {per_sync:.2f} call(s) per pushed sync (measured) + channel "
        f"upkeep {UPKEEP_A_DAY[provider]:.2f}/day = {pushed:,.0f}  ({polling / pushed:.0f}x fewer)"
    )


def run(
    events: int, latency_ms: int, providers: list[str], push_changes: int, changes_per_day: int
) -> None:
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
            result = measure(live, events, latency_ms, push_changes)
        name = "Google Calendar" if provider == "google" else "Outlook (Graph)"
        print(f"Calendar sync: {events} events in the sandbox's {name}, {latency_ms} ms per call")
        print(f"  full sync: API calls   {result.full_calls:8d}   (target {targets[provider]})")
        print(f"  full sync: wall time   {result.full_wall:8.1f} s")
        print(
            f"  incremental after 10 changes: API calls {result.incremental_calls:3d}   (target 1)"
        )
        print(f"  incremental: wall time {result.incremental_wall:8.1f} s")
        _report_push(provider, result, changes_per_day)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--provider", choices=("google", "microsoft"), action="append")
    parser.add_argument("--push-changes", type=int, default=10)
    parser.add_argument(
        "--changes-per-day",
        type=int,
        default=20,
        help="bursts of changes a calendar sees a day, for the with-push estimate",
    )
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.events <= 10_000:
        parser.error("--events must be between 1 and 10,000")
    use_database(args.database)
    if args.push_changes < 1:
        parser.error("--push-changes must be at least 1")
    run(
        args.events,
        args.latency_ms,
        args.provider or ["google", "microsoft"],
        args.push_changes,
        args.changes_per_day,
    )


if __name__ == "__main__":
    main()
