"""Webhook requests refused in numbers (WEBHOOK_REJECTED in the audit log): past the threshold
within a window, every active admin is told once for that window. A misconfigured signing key
or forged requests, most likely.

Windows are consecutive spans of WEBHOOK_FAILURE_ALERT_WINDOW_MINUTES from the Unix epoch (with
15: :00, :15, :30, :45 UTC). Each run looks at the current window and the one just ended, so the
refusals of a window's last minute are counted even if the next run falls in the next window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from proirp.auth.models import User
from proirp.config import Settings
from proirp.config.pages import AUDIT_PAGE
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.notices import repository
from proirp.notices.models import NoticeKind
from proirp.notices.sending import local_time, send_each, send_notice

KIND = NoticeKind.WEBHOOK_FAILURES
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.isoformat()


@dataclass(frozen=True)
class Alert:
    """One admin to tell of one window's refusals."""

    window: Window
    admin_id: str
    admin_email: str
    by_hook: dict[tuple[str, str], int]

    @property
    def key(self) -> str:
        return f"{self.window.key}/{self.admin_id}"


def window_at(moment: datetime, minutes: int) -> Window:
    """The window `moment` falls in."""
    span = timedelta(minutes=minutes)
    start = EPOCH + ((moment - EPOCH) // span) * span
    return Window(start, start + span)


def note_text(alert: Alert, settings: Settings) -> tuple[str, str]:
    """The subject and text: how many, from which providers' hooks, in which window. Never an
    address, a reason's detail or a payload."""
    refused = sum(alert.by_hook.values())
    minutes = settings.webhook_failure_alert_window_minutes
    hooks = "\n".join(
        f"  {provider} / {hook}: {count}"
        for (provider, hook), count in sorted(alert.by_hook.items())
    )
    subject = f"Pro IRP refused {refused} webhook requests within {minutes} minutes"
    text = (
        f"Pro IRP refused {refused} webhook requests between "
        f"{local_time(alert.window.start, settings)} and {local_time(alert.window.end, settings)} "
        f"(the alert threshold is {settings.webhook_failure_alert_threshold} in "
        f"{minutes} minutes). By provider and webhook:\n\n{hooks}\n\n"
        "A request is refused when its signature does not verify, or when its content cannot "
        "be read. So many at once usually mean that a signing key configured here no longer "
        "matches the provider's (TWILIO_AUTH_TOKEN, SENDGRID_WEBHOOK_PUBLIC_KEY), or that "
        "someone is sending forged requests. If it is a key, that provider's status updates and "
        "inbound messages are not being received until it is mended.\n\n"
        "Each refusal and its reason is in the audit log (action WEBHOOK_REJECTED):\n"
        f"{settings.base_url}{AUDIT_PAGE}?action=WEBHOOK_REJECTED"
    )
    return subject, text


def _alerts(session: Session, settings: Settings, now: datetime) -> list[Alert]:
    current = window_at(now, settings.webhook_failure_alert_window_minutes)
    ended = Window(current.start - (current.end - current.start), current.start)
    alerts: list[Alert] = []
    admins: list[User] | None = None
    for window in (ended, current):
        count = repository.count_rejections(session, since=window.start, until=window.end)
        if count < settings.webhook_failure_alert_threshold:
            continue
        if admins is None:
            admins = repository.active_admins(session)
        keys = {admin.id: f"{window.key}/{admin.id}" for admin in admins}
        done = repository.sent_keys(session, KIND, list(keys.values()))
        untold = [admin for admin in admins if keys[admin.id] not in done]
        if not untold:
            continue
        by_hook = dict(repository.rejections_by_hook(session, since=window.start, until=window.end))
        alerts += [Alert(window, admin.id, admin.email, by_hook) for admin in untold]
    return alerts


def alert_admins(factory: sessionmaker[Session], settings: Settings) -> int:
    """Tell each active admin of a window whose refusals reached the threshold; how many were
    told now."""
    with transaction(factory) as session:
        alerts = _alerts(session, settings, utcnow())

    def send(session: Session, alert: Alert) -> bool:
        subject, text = note_text(alert, settings)
        return send_notice(
            session,
            KIND,
            alert.key,
            to=alert.admin_email,
            subject=subject,
            text=text,
            user_id=alert.admin_id,
            window_start=alert.window.key,
            refused=sum(alert.by_hook.values()),
        )

    return send_each(factory, KIND, alerts, send)
