"""When a reminder may go: its due time (the start less the rule's offset), moved out of quiet
hours in the client's own time zone (zoneinfo, so a DST change is honoured), never after the
appointment starts nor before now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The last allowed minute before quiet hours begin ("no SMS after 21:00").
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class QuietHours:
    """Client-local hours in which no reminder goes: from `start` until `end` (08:00 next
    morning when `start` is later in the day than `end`). Equal times mean no quiet hours."""

    start: time
    end: time

    def is_quiet(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone).time()
        if self.start == self.end:
            return False
        if self.start > self.end:
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def last_allowed_before(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The last allowed minute before the quiet period `moment` falls in began."""
        local = moment.astimezone(zone)
        day = local.date() if local.time() >= self.start else local.date() - timedelta(days=1)
        return at_local(day, self.start, zone) - MINUTE

    def first_allowed_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """When the quiet period `moment` falls in ends."""
        local = moment.astimezone(zone)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return at_local(day, self.end, zone)


def at_local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """`wall` on `day` in `zone`, in UTC (a wall time a DST change skips lands just after it)."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def client_zone(name: str | None, fallback: str | None) -> ZoneInfo:
    """The client's zone; the practice's (else UTC) when the record's cannot be read."""
    for candidate in (name, fallback):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class Planned:
    """A reminder's plan: due at `due_at`, or skipped for `reason`."""

    due_at: datetime | None
    reason: str | None = None


NO_ALLOWED_TIME = "No time outside quiet hours is left between now and the appointment."
TOO_LATE = "The appointment was booked or moved after this reminder's time."


def plan_due(
    start_at: datetime,
    offset: timedelta,
    *,
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
    grace: timedelta,
) -> Planned:
    """The due time for a reminder `offset` before `start_at`.

    In quiet hours, the due time moves to the nearest allowed time (the evening before, or the
    morning after) that is before the start and not before now. A due time already past by more
    than `grace` is skipped: the reminder would arrive long after it was meant to.
    """
    ideal = start_at - offset
    if not quiet.is_quiet(ideal, zone):
        if ideal < now - grace:
            return Planned(None, TOO_LATE)
        return Planned(ideal)
    candidates = [
        moment
        for moment in (
            quiet.last_allowed_before(ideal, zone),
            quiet.first_allowed_after(ideal, zone),
        )
        if now - grace <= moment < start_at
    ]
    if not candidates:
        return Planned(None, NO_ALLOWED_TIME)
    return Planned(min(candidates, key=lambda moment: (abs(moment - ideal), moment)))


def after_quiet_hours(
    start_at: datetime, *, zone: ZoneInfo, quiet: QuietHours, now: datetime
) -> Planned:
    """A reminder found in quiet hours at send time (`now`): due again when they end, if that
    is still before the start; skipped otherwise (the evening before has already passed)."""
    end = quiet.first_allowed_after(now, zone)
    if end >= start_at:
        return Planned(None, NO_ALLOWED_TIME)
    return Planned(end)


def when_word(due_at: datetime, start_at: datetime, zone: ZoneInfo) -> str:
    """'today', 'tomorrow' or 'soon': how the PHI-free wording says when, never a time."""
    if start_at - due_at <= timedelta(minutes=90):
        return "soon"
    days = (start_at.astimezone(zone).date() - due_at.astimezone(zone).date()).days
    return {0: "today", 1: "tomorrow"}.get(days, "soon")
