"""Faults, the clock: appointment reminders and calendar tokens across a DST change, and across a
clock that jumps forward (a host that slept, or NTP setting a wrong clock right).

Reminders: two days of appointments around each of New York's changes (March: 02:00 becomes
03:00; November: 02:00 comes twice), in five time zones, planned by the product and driven
through by the product's clock (`set_clock`) in the 60-second ticks a worker makes, with one
jump of three hours in the middle. Each reminder must end sent once, or expired with its reason
when the jump left it more than the grace period late: none left waiting, none sent twice, none
after its appointment began, none in its client's quiet hours.

Calendar tokens: a Google and an Outlook calendar connected through the live stack; the
product's clock then crosses the March change in 5-minute steps, and jumps five hours. At every
step the product's own sync reads the calendar: the provider must accept every token it uses,
and a token is refreshed exactly when its stored expiry (in UTC) says so.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import reminders as bench_reminders
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.calendars.dance import connect, new_user, query_of
from tests.live import LiveStack

from proirp.appointments.models import Reminder
from proirp.appointments.models import ReminderStatus as S
from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent
from proirp.calendars.sync import sync_integration
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.time import set_clock
from proirp.worker import jobs
from prove.figures import Figure, count
from prove.run import Run

AREA = "Faults"
STEP = timedelta(seconds=60)
JUMP = timedelta(hours=3)
GRACE = timedelta(minutes=60)  # the practice's default grace (PracticeSettings.grace_minutes)
QUIET_FROM, QUIET_UNTIL = time(21), time(8)  # the practice's default quiet hours
# Two days around each of New York's changes, starting at midnight UTC.
CHANGES = {
    "March": datetime(2030, 3, 9, 0, 0, tzinfo=UTC),  # 2030-03-10 02:00 EST becomes 03:00 EDT
    "November": datetime(2030, 11, 2, 0, 0, tzinfo=UTC),  # 2030-11-03 02:00 EDT comes twice
}


def _in_quiet_hours(moment: datetime, zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(zone)).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def _drive(clock: object, start: datetime, end: datetime, jump_at: datetime) -> None:
    """Tick every 60 s from `start` to `end`, except once: at `jump_at` the clock jumps."""
    jumped = False
    now = start
    while now <= end:
        jobs.run_job("reminders.send_due")
        step = JUMP if not jumped and now >= jump_at else STEP
        jumped = jumped or step == JUMP
        now = clock.advance(step)  # type: ignore[attr-defined]


def _reminders_figures(
    name: str,
    factory: sessionmaker[Session],
    url: str,
    first_tick: datetime,
    jump: tuple[datetime, datetime],
) -> list[Figure]:
    jump_from, jump_to = jump
    with factory() as session:
        rows = session.execute(
            select(Reminder, ClientCalendarEvent.start_at, Client.timezone, Communication)
            .join(ClientCalendarEvent, ClientCalendarEvent.id == Reminder.appointment_id)
            .join(Client, Client.id == ClientCalendarEvent.client_id)
            .outerjoin(Communication, Communication.id == Reminder.communication_id)
        ).all()
    with bench_reminders._twilio(url) as twilio:
        ledger = twilio.get("/_sandbox/ledger").json()["messages"]
    per_sid = Counter(str(m["sid"]) for m in ledger)
    statuses = Counter(reminder.status for reminder, *_ in rows)
    queued = [(r, start, zone, c) for r, start, zone, c in rows if r.status == S.QUEUED]
    end = max((r.due_at for r, *_ in rows), default=jump_to)
    left = sum(
        1 for r, *_ in rows if r.status == S.PENDING and r.due_at <= end - timedelta(hours=2)
    )
    twice = sum(n - 1 for n in per_sid.values() if n > 1) + max(0, len(ledger) - len(queued))
    unsent = sum(
        1 for _r, _s, _z, c in queued if c is None or per_sid.get(str(c.provider_message_id)) != 1
    )
    late = sum(
        1
        for r, start, _z, _c in queued
        if r.queued_at is not None and start is not None and r.queued_at >= start
    )
    quiet = sum(
        1 for r, _s, zone, _c in queued if r.queued_at and _in_quiet_hours(r.queued_at, zone)
    )
    # Outside the jump a reminder goes at the first tick at or after its due time (or, if it was
    # already due when planned, at the first tick).
    slow = sum(
        1
        for r, *_ in queued
        if r.queued_at
        and not jump_from <= r.due_at <= jump_to
        and r.queued_at - max(r.due_at, first_tick) > STEP
    )
    # Expired only when the jump left it more than the grace period late.
    wrongly_expired = sum(
        1
        for r, *_ in rows
        if r.status == S.EXPIRED and not (jump_from <= r.due_at < jump_to - GRACE + STEP)
    )
    done = f"{statuses[S.QUEUED]:,} sent, {statuses[S.EXPIRED]:,} expired by the jump"
    print(f"  reminders, {name}: {dict(statuses)}; {done}")
    return [
        count(AREA, f"reminders, {name} DST change + jump: left waiting", left),
        count(AREA, f"reminders, {name} DST change + jump: sent twice", twice),
        count(AREA, f"reminders, {name} DST change + jump: queued but not sent", unsent),
        count(AREA, f"reminders, {name} DST change + jump: sent after the appointment began", late),
        count(AREA, f"reminders, {name} DST change + jump: sent in quiet hours", quiet),
        count(AREA, f"reminders, {name} DST change + jump: later than a tick", slow),
        count(
            AREA, f"reminders, {name} DST change + jump: expired though not late", wrongly_expired
        ),
    ]


def _reminders(run: Run, name: str, start: datetime) -> list[Figure]:
    appointments = run.size(2_000, 300)
    clients = run.size(400, 100)
    days = 2
    clock_start = start + timedelta(seconds=37)  # off the minute, as a worker's ticks are
    jump_from = start + timedelta(hours=19, minutes=30)  # 13:30 to 16:30 in Chicago
    end = start + timedelta(days=days, hours=2)
    with (
        tempfile.TemporaryDirectory(dir=run.folder) as tmp,
        bench_reminders.reminder_world(Path(tmp)) as (factory, url),
    ):
        bench_reminders._seed(factory, appointments, clients, days, start_of_week=start)
        with factory() as session:
            for client in session.scalars(select(Client)):
                run.used.add("client name", client.last_name)
                run.used.add("phone number", client.phone)
        with set_clock(clock_start) as clock:
            bench_reminders._plan(factory)
            _drive(clock, clock_start, end, jump_from)
        return _reminders_figures(name, factory, url, clock_start, (jump_from, jump_from + JUMP))


def _settings(live: LiveStack) -> Settings:
    """The stack's own settings, for the product's code run in this process."""
    fields = Settings.model_fields
    values = {key.lower(): value for key, value in live.env.items() if key.lower() in fields}
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _tokens(run: Run) -> list[Figure]:
    """Both calendars, the clock stepping across the March change, then jumping forward."""
    figures: list[Figure] = []
    with run.stack("clock", api=1, workers=1) as live:
        settings = _settings(live)
        factory = sessionmaker(live.engine, expire_on_commit=False)
        for provider in ("google", "microsoft"):
            token = new_user(live)
            answer = connect(live, token, provider=provider)
            if query_of(answer.headers["location"]).get("outcome") != "connected":
                raise RuntimeError(f"the {provider} calendar did not connect")
            with factory() as session:
                integration = session.scalars(
                    select(CalendarIntegration)
                    .where(CalendarIntegration.provider == provider)
                    .order_by(CalendarIntegration.created_at.desc())
                ).first()
                assert integration is not None
                integration_id = integration.id
            refused, wrong = _step_tokens(run, factory, settings, integration_id)
            figures.append(
                count(AREA, f"{provider} calendar: calls refused across DST and a jump", refused)
            )
            figures.append(
                count(AREA, f"{provider} calendar: refreshes not when the expiry said", wrong)
            )
    return figures


def _step_tokens(
    run: Run, factory: sessionmaker[Session], settings: Settings, integration_id: str
) -> tuple[int, int]:
    """(syncs that failed, steps where a refresh came or did not come against the stored expiry)."""
    margin = timedelta(seconds=settings.calendar_refresh_margin_seconds)
    moments = [CHANGES["March"] + timedelta(days=1, hours=6, minutes=5 * i) for i in range(40)]
    refused = wrong = 0
    with set_clock(moments[0]) as clock:
        steps = [moments[0], *moments[1:], moments[-1] + timedelta(hours=5)]
        for moment in steps:
            clock.set(moment)
            with factory() as session:
                before = session.get(CalendarIntegration, integration_id)
                assert before is not None
                expected = (
                    before.token_expires_at is None or before.token_expires_at - margin <= moment
                )
                old = before.access_token
            try:
                result = sync_integration(factory, settings, integration_id)
            except Exception:  # a refused token, or anything else the step could not do
                refused += 1
                continue
            if result is None:
                refused += 1
            with factory() as session:
                after = session.get(CalendarIntegration, integration_id)
                assert after is not None
                run.used.add("oauth token", after.access_token, after.refresh_token)
                refreshed = after.access_token != old
            wrong += refreshed != expected
    return refused, wrong


def prove(run: Run) -> list[Figure]:
    run.use_postgres()
    figures: list[Figure] = []
    # Quick: the March change alone (the hour that does not exist); full: November's as well.
    changes = list(CHANGES.items())[: 1 if run.quick else None]
    for name, start in changes:
        figures.extend(_reminders(run, name, start))
    figures.extend(_tokens(run))
    return figures
