"""Settings: the user's own calendars (connect Google Calendar or Outlook, each one's sync status
changing in place, sync now, disconnect) and what each channel's BAA allows; for admins, the
reminder rules and the inbox's office hours, time zone, automatic replies, urgent phrases and
on-call address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.appointments import rules
from proirp.appointments.schemas import MAX_RULES, RulesPut
from proirp.auth import second_factor
from proirp.auth.models import Role
from proirp.calendars import oauth, service, sync_status
from proirp.calendars.providers import PROVIDERS, calendar_provider, check_provider
from proirp.comms.inbox import service as inbox
from proirp.comms.inbox.practice import DAYS, inbox_practice
from proirp.comms.inbox.schemas import InboxSettingsIn
from proirp.comms.templates.service import list_templates
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import NotFound
from proirp.kit.pagination import MAX_LIMIT, PageParams
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import AdminPage, CheckedForm, PageUser, field, page_router
from proirp.worker.after_commit import enqueue_after_commit

router = page_router()
SETTINGS = f"{PREFIX}/settings"
LIVE_EVERY_MS = 2000

CALENDARS = {"google": "Google Calendar", "microsoft": "Outlook"}
STATES = {
    "ok": "OK",
    "syncing": "Syncing",
    "error": "Error",
    "needs_reauth": "Needs connecting again",
}
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"), strict=True))  # fmt: skip
# Fixed words for each outcome: the address carries a code, never anything a person typed.
OUTCOMES = {
    "connected": "{calendar} is connected. Its first sync has started: its status below "
    "changes by itself when the sync is done.",
    "denied": "{calendar} was not connected: access was not allowed on the consent page.",
    "failed": "{calendar} could not be connected: the provider did not complete the "
    "connection. Please try again in a few minutes.",
    "refused": "{calendar} was not connected: that sign-in link had expired, was already used "
    "or was started by someone else. Please connect it again from here.",
}
DONE = {
    "sync_started": "A sync of {calendar} has started: its status below changes when it is done.",
    "disconnected": "{calendar} is disconnected: its events are no longer kept here; its "
    "appointments stay in each client's history.",
    "disconnected_not_revoked": "{calendar} is disconnected here. {removal}",
    "reminders_saved": "The reminder rules are saved.",
    "inbox_saved": "The inbox settings are saved.",
}
ProviderName = Annotated[str, Path(max_length=16)]
Code = Annotated[str | None, Query(max_length=40)]


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "Never"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%-d %b %Y, %H:%M:%S")


def _calendar_views(session: Session, user_id: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Each connected calendar's sync status, in words; never a token."""
    views = []
    for view in sync_status.views(session, user_id):
        views.append(
            {
                **view,
                "label": CALENDARS.get(view["provider"], view["provider"]),
                "state_text": STATES[view["status"]],
                "synced_text": _when(view["last_success_at"], zone),
                "error_text": view["last_error"] or "None",
                "retry_text": _when(view["next_attempt_at"], zone)
                if view["next_attempt_at"]
                else "None waiting",
                "cached_text": _events(view["events_cached"]),
            }
        )
    return views


def minutes_text(minutes: int) -> str:
    """60 -> "1 hour", 1440 -> "1 day", 90 -> "90 minutes"."""
    for size, unit in ((24 * 60, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{minutes} minutes"


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"


def _notice(
    settings: Settings, done: str | None, provider: str | None, outcome: str | None
) -> str | None:
    calendar = CALENDARS.get(provider or "")
    if outcome in OUTCOMES and calendar:
        return OUTCOMES[outcome].format(calendar=calendar)
    if done not in DONE:
        return None
    if done == "disconnected_not_revoked" and provider in PROVIDERS:
        removal = calendar_provider(settings, str(provider)).consent_removal or ""
        return DONE[done].format(calendar=calendar, removal=removal)
    if "{calendar}" in DONE[done] and not calendar:
        return None
    return DONE[done].format(calendar=calendar)


def _channels(settings: Settings) -> list[dict[str, Any]]:
    """What each channel's BAA (or its absence) means for what may be sent through it."""
    return [
        {
            "channel": "SMS",
            "provider": "Twilio",
            "signed": settings.twilio_hipaa_enabled,
            "means": "Text messages may carry PHI."
            if settings.twilio_hipaa_enabled
            else "A text message that carries PHI (a client's name, date of birth or clinical "
            "words) is blocked and not sent.",
        },
        {
            "channel": "Email",
            "provider": "SendGrid",
            "signed": settings.sendgrid_hipaa_enabled,
            "means": "Emails may carry PHI."
            if settings.sendgrid_hipaa_enabled
            else "An email that carries PHI (a client's name, date of birth or clinical words) "
            "is blocked and not sent.",
        },
    ]


@router.get("/settings")
def settings_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    done: Code = None,
    provider: Code = None,
    outcome: Code = None,
) -> Response:
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    calendars = _calendar_views(session, user.id, zone)
    connected = {c["provider"] for c in calendars}
    admin: dict[str, Any] = {}
    if user.role == Role.ADMIN:
        templates, _ = list_templates(
            session, channel=None, page=PageParams(limit=MAX_LIMIT, cursor=None)
        )
        admin = {
            "reminders": rules.rules_answer(session),
            "max_rules": MAX_RULES,
            "templates": templates,
            "inbox": inbox.settings_view(session, settings),
            "days": DAY_NAMES,
            "minutes_text": minutes_text,
        }
    return render(
        request,
        "settings.html",
        user=user,
        notice=_notice(settings, done, provider, outcome),
        calendars=calendars,
        to_connect=[(p, CALENDARS[p]) for p in PROVIDERS if p not in connected],
        labels=CALENDARS,
        live_every=LIVE_EVERY_MS,
        channels=_channels(settings),
        mfa=second_factor.status(session, user, settings),
        is_admin=user.role == Role.ADMIN,
        idle_minutes=settings.session_idle_minutes,
        session_hours=settings.session_ttl_hours,
        **admin,
    )


@router.get("/live/calendars")
def calendars_live(user: PageUser, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The calendars' statuses for the Settings page's live region: words and states only."""
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    items: dict[str, dict[str, str]] = {}
    for view in _calendar_views(session, user.id, zone):
        name = view["provider"]
        items[f"{name}-status"] = {"text": view["state_text"], "state": view["status"]}
        items[f"{name}-synced"] = {"text": view["synced_text"]}
        items[f"{name}-error"] = {"text": view["error_text"]}
        items[f"{name}-retry"] = {"text": view["retry_text"]}
        items[f"{name}-cached"] = {"text": view["cached_text"]}
    return JSONResponse(
        {"items": items, "refresh": False, "done": not items},
        headers={"Cache-Control": "no-store"},
    )


def _back(done: str, provider: str | None = None, where: str = "calendars") -> RedirectResponse:
    query = f"done={done}" + (f"&provider={provider}" if provider else "")
    return RedirectResponse(f"{SETTINGS}?{query}#{where}", status_code=303)


@router.get("/settings/calendars/{provider}/connect")
def connect(
    provider: ProviderName, user: PageUser, session: SessionDep, settings: SettingsDep
) -> RedirectResponse:
    """To the provider's consent page; it sends the browser back to Settings."""
    check_provider(provider)
    return RedirectResponse(oauth.start_connect(session, user, provider, settings), status_code=303)


@router.post("/settings/calendars/{provider}/sync")
def sync_now(
    provider: ProviderName, user: PageUser, _form: CheckedForm, session: SessionDep
) -> RedirectResponse:
    check_provider(provider)
    integration = service.integration_of(session, user.id, provider)
    if integration is None:
        raise NotFound("That calendar is not connected.", code="calendar_not_connected")
    enqueue_after_commit(session, "calendars.sync", integration.id)
    return _back("sync_started", provider)


@router.post("/settings/calendars/{provider}/disconnect")
def disconnect(
    provider: ProviderName,
    user: PageUser,
    _form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> RedirectResponse:
    check_provider(provider)
    outcome = service.disconnect(session, user, provider, settings, origin)
    revoked = outcome["revoked"] or not outcome.get("message")
    return _back("disconnected" if revoked else "disconnected_not_revoked", provider)


def _number(form: FormData, name: str) -> int | str | None:
    """A whole number as a number; anything else as typed, for the schema to refuse by name."""
    value = field(form, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _rules_from(form: FormData) -> list[dict[str, Any]]:
    """The rule rows kept (a row marked for removal, or a new row left blank, is left out)."""
    count = _number(form, "rule_count")
    rows = count if isinstance(count, int) and 0 <= count <= MAX_RULES + 1 else 0
    found = []
    for index in range(rows):
        prefix = f"rule-{index}-"
        if form.get(prefix + "remove"):
            continue
        key = field(form, prefix + "key")
        offset = _number(form, prefix + "offset")
        if key is None and offset is None:
            continue  # the empty row for a new rule
        found.append(
            {
                "key": key,
                "offset_minutes": offset,
                "channel": field(form, prefix + "channel"),
                "template_id": field(form, prefix + "template"),
                "enabled": bool(form.get(prefix + "enabled")),
            }
        )
    return found


REMINDER_TEXTS = (
    "quiet_hours_start",
    "quiet_hours_end",
    "sms_wording",
    "email_subject",
    "email_wording",
    "confirmed_reply",
    "reschedule_reply",
)


@router.post("/settings/reminders")
def save_reminders(
    user: AdminPage, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    """As PUT /reminders/rules: the whole set of rules, and the reminder settings."""
    values: dict[str, Any] = {name: _text(form, name) for name in REMINDER_TEXTS}
    values["grace_minutes"] = _number(form, "grace_minutes")
    body = RulesPut.model_validate({"rules": _rules_from(form), "settings": values})
    rules.put_rules(session, body, user_id=user.id, origin=origin)
    return _back("reminders_saved", where="reminders")


@router.post("/settings/inbox")
def save_inbox(
    user: AdminPage,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> RedirectResponse:
    """As PUT /inbox/settings: a day with neither time is closed; an empty on-call address
    clears it."""
    hours: dict[str, dict[str, str] | None] = {}
    for day in DAYS:
        start, end = field(form, f"{day}-start"), field(form, f"{day}-end")
        hours[day] = (
            None if start is None and end is None else {"start": start or "", "end": end or ""}
        )
    phrases = [line.strip() for line in _text(form, "urgent_phrases").splitlines() if line.strip()]
    body = InboxSettingsIn.model_validate(
        {
            "timezone": field(form, "timezone"),
            "office_hours": hours,
            "safety_reply": _text(form, "safety_reply"),
            "after_hours_reply": _text(form, "after_hours_reply"),
            "urgent_phrases": phrases,
            "on_call_email": _text(form, "on_call_email"),
            "realert_minutes": _number(form, "realert_minutes"),
            "realert_limit": _number(form, "realert_limit"),
        }
    )
    inbox.save_settings(session, body, settings=settings, user_id=user.id, origin=origin)
    return _back("inbox_saved", where="inbox")
