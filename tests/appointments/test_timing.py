"""Due times out of quiet hours in the client's own zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from proirp.appointments.timing import (
    NO_ALLOWED_TIME,
    TOO_LATE,
    QuietHours,
    plan_due,
    when_word,
)

QUIET = QuietHours(time(21), time(8))
GRACE = timedelta(minutes=60)
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CHICAGO = ZoneInfo("America/Chicago")


def _due(start: datetime, hours: float, zone: ZoneInfo, now: datetime) -> datetime | None:
    return plan_due(
        start, timedelta(hours=hours), zone=zone, quiet=QUIET, now=now, grace=GRACE
    ).due_at


def test_a_due_time_in_daytime_stays() -> None:
    start = datetime(2030, 1, 15, 16, 0, tzinfo=UTC)  # 10:00 in Chicago
    assert _due(start, 24, CHICAGO, start - timedelta(days=3)) == start - timedelta(hours=24)


def test_early_morning_moves_to_8_when_the_appointment_is_later() -> None:
    start = datetime(2030, 1, 15, 15, 30, tzinfo=UTC)  # 09:30 Chicago; 2 h before is 07:30
    due = _due(start, 2, CHICAGO, start - timedelta(days=1))
    assert due == datetime(2030, 1, 15, 14, 0, tzinfo=UTC)  # 08:00 Chicago


def test_the_evening_before_when_8_would_be_too_late() -> None:
    start = datetime(2030, 1, 15, 14, 0, tzinfo=UTC)  # 08:00 Chicago; 2 h before is 06:00
    due = _due(start, 2, CHICAGO, start - timedelta(days=1))
    assert due == datetime(2030, 1, 15, 2, 59, tzinfo=UTC)  # 20:59 Chicago the evening before


def test_march_change_day_in_new_york() -> None:
    # 2030-03-10: clocks go from 02:00 EST to 03:00 EDT. 24 h before 08:30 EDT on the 10th is
    # 07:30 EST on the 9th (quiet), so the reminder moves to 08:00 EST on the 9th.
    start = datetime(2030, 3, 10, 12, 30, tzinfo=UTC)
    assert start.astimezone(NEW_YORK).hour == 8
    due = _due(start, 24, NEW_YORK, start - timedelta(days=3))
    assert due == datetime(2030, 3, 9, 13, 0, tzinfo=UTC)
    assert due is not None and due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "08:00 EST"


def test_november_change_day_in_new_york() -> None:
    # 2030-11-03: clocks go back from 02:00 EDT to 01:00 EST. 2 h before 08:30 EST is 06:30
    # EST: quiet, so 08:00 EST (13:00 UTC), not 08:00 EDT (12:00 UTC, still 07:00 EST).
    start = datetime(2030, 11, 3, 13, 30, tzinfo=UTC)
    due = _due(start, 2, NEW_YORK, start - timedelta(days=2))
    assert due == datetime(2030, 11, 3, 13, 0, tzinfo=UTC)


def test_the_client_zone_counts_not_the_practice_zone() -> None:
    # 23:00 UTC is 08:00 in Tokyo (and 17:00 in Chicago). 2 h before: 06:00 in Tokyo, quiet
    # there (not in Chicago), and 08:00 is the start itself: the evening before, 20:59 Tokyo.
    start = datetime(2030, 1, 15, 23, 0, tzinfo=UTC)
    tokyo = _due(start, 2, TOKYO, start - timedelta(days=1))
    chicago = _due(start, 2, CHICAGO, start - timedelta(days=1))
    assert tokyo == datetime(2030, 1, 15, 11, 59, tzinfo=UTC)
    assert chicago == datetime(2030, 1, 15, 21, 0, tzinfo=UTC)


def test_no_allowed_time_between_now_and_the_start_is_skipped() -> None:
    start = datetime(2030, 1, 15, 14, 0, tzinfo=UTC)  # 08:00 Chicago
    now = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)  # 03:00 Chicago: the evening has passed
    planned = plan_due(start, timedelta(hours=2), zone=CHICAGO, quiet=QUIET, now=now, grace=GRACE)
    assert planned.due_at is None and planned.reason == NO_ALLOWED_TIME


def test_booked_after_the_reminder_time_is_skipped() -> None:
    start = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)
    now = start - timedelta(hours=5)
    planned = plan_due(start, timedelta(hours=24), zone=CHICAGO, quiet=QUIET, now=now, grace=GRACE)
    assert planned.due_at is None and planned.reason == TOO_LATE


def test_the_wording_says_today_tomorrow_or_soon() -> None:
    start = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)  # 12:00 Chicago
    assert when_word(start - timedelta(hours=24), start, CHICAGO) == "tomorrow"
    assert when_word(start - timedelta(hours=2), start, CHICAGO) == "today"
    assert when_word(start - timedelta(minutes=30), start, CHICAGO) == "soon"
