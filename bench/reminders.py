"""Reminder benchmark: 10,000 appointments over the next 7 days for 2,000 clients (in five time
zones), planned by the product, then a week driven through by the product's clock in 60-second
steps: each step runs the reminder sender, whose messages go through the SMS dispatch to the
provider sandbox (its rate limit raised) in the same process.

Prints the planner's time (target < 10 s on PostgreSQL), the reminders by status, the lag between
each reminder's due time and when it was queued (target: every one within 60 s of the clock), and
what the sandbox's ledger holds (target: each queued reminder exactly once, no PHI in any body).
    python -m bench.reminders [--appointments N] [--clients N] [--days D] [--database ...]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import make_settings
from tests.databases import fresh_database
from tests.live import BIN, SANDBOX_FROM, Process, free_port, wait_until

from bench.databases import add_database_option, use_database
from proirp import runtime
from proirp.appointments.models import Reminder
from proirp.appointments.planner import plan_reminders
from proirp.auth.models import User
from proirp.auth.secrets import hash_password
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.identity import add_clients
from proirp.comms.models import Communication
from proirp.config.sandbox_credentials import SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN
from proirp.kit.db import new_id, transaction
from proirp.kit.time import set_clock
from proirp.migrations.commands import upgrade
from proirp.worker import jobs
from proirp.worker.queue import huey

ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Asia/Tokyo",
)
START = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # a Monday; the week holds New York's DST change
STEP = timedelta(seconds=60)
# Off the minute, as a real worker's ticks are: a lag is then from due to the next tick.
CLOCK_START = START + timedelta(seconds=37)
MPS = 500.0
# What a reminder body may be without a BAA: the practice's wording, nothing else.
PHI_FREE = re.compile(r"You have an appointment (today|tomorrow|soon)\. Reply C to confirm")


@contextmanager
def sandbox(tmp: Path) -> Iterator[str]:
    """`proirp sandbox` in its own process; yields its URL."""
    port = free_port()
    env = {**os.environ, "PROIRP_ENV": "test", "PROIRP_DATA_DIR": str(tmp / "sandbox")}
    env.update(LOG_LEVEL="WARNING", SANDBOX_TWILIO_MPS=str(MPS))
    args = [str(BIN / "proirp"), "sandbox", "--port", str(port), "--tls-port", str(free_port())]
    process = Process("sandbox", args, env, tmp / "sandbox.log")
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/twilio/_sandbox/stats", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        if not wait_until(up, timeout=90, interval=0.1):
            raise SystemExit("the sandbox did not start: " + (tmp / "sandbox.log").read_text())
        yield url
    finally:
        process.stop()


def _twilio(url: str) -> httpx.Client:
    auth = (SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN)
    return httpx.Client(base_url=f"{url}/twilio", auth=auth, timeout=60)


def _seed(
    factory: sessionmaker[Session],
    appointments: int,
    clients: int,
    days: int,
    *,
    start_of_week: datetime = START,
) -> None:
    """The clients (who agreed to SMS) and their appointments, in a few bulk inserts."""
    rng = random.Random(20300304)
    user_id = new_id()
    client_rows = [
        {
            "id": new_id(),
            "first_name": "Bench",
            "last_name": f"Client{i}",
            "phone": f"+1312555{i:04d}",
            "timezone": ZONES[i % len(ZONES)],
            "sms_consent": True,
            "created_at": start_of_week,
            "updated_at": start_of_week,
        }
        for i in range(clients)
    ]
    slots = days * 24 * 12  # five-minute slots
    appointment_rows = []
    for i in range(appointments):
        start = start_of_week + timedelta(hours=1, minutes=5 * rng.randrange(slots - 12))
        appointment_rows.append(
            {
                "id": new_id(),
                "client_id": client_rows[i % clients]["id"],
                "user_id": user_id,
                "provider": "google",
                "provider_event_id": f"bench{i}",
                "start_at": start,
                "end_at": start + timedelta(minutes=50),
                "created_at": start_of_week,
                "updated_at": start_of_week,
            }
        )
    with transaction(factory) as session:
        clinician = User(id=user_id, email="clinician@bench.example.com", role="clinician")
        clinician.password_hash = hash_password(new_id())  # never signs in
        session.add(clinician)
        session.flush()
        add_clients(session, client_rows)
        session.execute(insert(ClientCalendarEvent), appointment_rows)


@dataclass(frozen=True)
class Result:
    plan_seconds: float
    replan_seconds: float
    planned: int
    statuses: Counter[str]
    lags: list[float]
    steps: int
    send_seconds: float
    ledger: int
    duplicates: int
    missing: int
    phi_bodies: int


def _plan(factory: sessionmaker[Session]) -> tuple[float, int]:
    started = time.perf_counter()
    with transaction(factory) as session:
        counts = plan_reminders(session, settings=runtime.current().settings)
    return time.perf_counter() - started, counts.added


def _drive(clock: object, days: int) -> tuple[int, float]:
    """Step the clock through the days, running the sender (and, inline, the dispatch)."""
    steps = 0
    started = time.perf_counter()
    end = START + timedelta(days=days, hours=2)
    while True:
        jobs.run_job("reminders.send_due")
        steps += 1
        if clock.advance(STEP) > end:  # type: ignore[attr-defined]
            break
    return steps, time.perf_counter() - started


def _check(factory: sessionmaker[Session], url: str) -> dict[str, Any]:
    with factory() as session:
        reminders = session.execute(
            select(Reminder.status, Reminder.due_at, Reminder.queued_at, Communication).outerjoin(
                Communication, Communication.id == Reminder.communication_id
            )
        ).all()
    with _twilio(url) as twilio:
        ledger = twilio.get("/_sandbox/ledger").json()["messages"]
    sids = Counter(str(m["sid"]) for m in ledger)
    sent = [c for status, _d, _q, c in reminders if status == "queued" and c is not None]
    return {
        "statuses": Counter(status for status, *_ in reminders),
        # From due (or, for one already due when planned, from the start of the run) to queued.
        "lags": [
            (q - max(d, CLOCK_START)).total_seconds()
            for s, d, q, _c in reminders
            if s == "queued" and q
        ],
        "ledger": len(ledger),
        "duplicates": sum(n - 1 for n in sids.values() if n > 1),
        "missing": sum(1 for c in sent if sids.get(str(c.provider_message_id), 0) != 1),
        "phi_bodies": sum(1 for m in ledger if not PHI_FREE.match(str(m["body"]))),
    }


@contextmanager
def reminder_world(tmp: Path) -> Iterator[tuple[sessionmaker[Session], str]]:
    """The product in this process (its jobs run at once, inline) on a fresh database, sending
    through `proirp sandbox` in its own process: yields (session factory, sandbox URL)."""
    kind = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    with sandbox(tmp) as url, fresh_database(kind, tmp) as database_url:
        upgrade(database_url)
        settings = make_settings(
            tmp / "data",
            database_url=database_url,
            log_level="WARNING",
            twilio_account_sid=SANDBOX_TWILIO_ACCOUNT_SID,
            twilio_auth_token=SANDBOX_TWILIO_AUTH_TOKEN,
            twilio_phone_number=SANDBOX_FROM,
            twilio_api_base=f"{url}/twilio",
            twilio_mps=MPS,
            public_base_url=f"http://127.0.0.1:{free_port()}",  # nobody listens: callbacks fail
        )
        rt = runtime.start(settings)
        huey.immediate = True  # a queued delivery runs at once, in this process
        try:
            yield rt.session_factory, url
        finally:
            huey.immediate = False
            rt.engine.dispose()


def run(appointments: int, clients: int, days: int) -> Result:
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        reminder_world(Path(tmp_name)) as (factory, url),
    ):
        _seed(factory, appointments, clients, days)
        with set_clock(CLOCK_START) as clock:
            plan_seconds, planned = _plan(factory)
            replan_seconds, _ = _plan(factory)
            steps, send_seconds = _drive(clock, days)
        found = _check(factory, url)
    return Result(
        plan_seconds=plan_seconds,
        replan_seconds=replan_seconds,
        planned=planned,
        steps=steps,
        send_seconds=send_seconds,
        **found,
    )


def report(result: Result, appointments: int, clients: int, days: int) -> bool:
    lags = sorted(result.lags) or [0.0]
    worst = lags[-1]
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    print(f"Reminders: {appointments} appointments, {clients} clients, {days} days")
    print(f"  planner (first run)    {result.plan_seconds:8.2f} s   (target < 10 s on PostgreSQL)")
    print(f"  planner (again)        {result.replan_seconds:8.2f} s")
    print(f"  reminders planned      {result.planned:8d}")
    for status, count in sorted(result.statuses.items()):
        print(f"    {status:<20} {count:8d}")
    print(f"  clock steps (60 s)     {result.steps:8d}   in {result.send_seconds:.1f} s wall")
    print(f"  lag due -> queued max  {worst:8.0f} s   p99 {p99:.0f} s   (target <= 60 s)")
    print(f"  ledger messages        {result.ledger:8d}")
    print(f"  ledger duplicates      {result.duplicates:8d}   (target 0)")
    print(f"  queued, not in ledger  {result.missing:8d}   (target 0)")
    print(f"  bodies with PHI        {result.phi_bodies:8d}   (target 0)")
    return (
        worst <= STEP.total_seconds()
        and result.duplicates == 0
        and result.missing == 0
        and result.phi_bodies == 0
        and result.ledger == len(result.lags)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=7)
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.clients <= 10_000 or args.appointments < 1 or not 1 <= args.days <= 14:
        parser.error("--clients 1 to 10,000, --appointments at least 1, --days 1 to 14")
    use_database(args.database)
    result = run(args.appointments, args.clients, args.days)
    if not report(result, args.appointments, args.clients, args.days):
        raise SystemExit("reminders missed a target")


if __name__ == "__main__":
    main()
