"""GET and PUT /reminders/rules: the practice's rules and settings, checked as a whole (every
problem a 422 naming its field), saved, and audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder, ReminderRule, ReminderSettings, ReminderStatus
from proirp.appointments.practice import (
    DAILY_CAP,
    DEFAULT_SETTINGS,
    SETTING_NAMES,
    WEEKLY_CAP,
    current_rules,
    practice_settings,
    stored_rules,
)
from proirp.appointments.schemas import RuleIn, RuleOut, RulesAnswer, RulesPut, SettingsOut
from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.phi import find_phi
from proirp.comms.models import Template
from proirp.kit.errors import ValidationFailed
from proirp.kit.time import utcnow

WORDINGS = ("sms_wording", "email_subject", "email_wording", "confirmed_reply", "reschedule_reply")


def rules_answer(session: Session) -> RulesAnswer:
    rules = [RuleOut(**vars(rule)) for rule in current_rules(session)]
    settings = practice_settings(session)
    return RulesAnswer(
        rules=rules,
        settings=SettingsOut(**vars(settings), daily_cap=DAILY_CAP, weekly_cap=WEEKLY_CAP),
    )


def _key(rule: RuleIn) -> str:
    return rule.key or f"{rule.channel}-{rule.offset_minutes}m"


def _rule_problems(session: Session, rules: list[RuleIn]) -> dict[str, str]:
    problems: dict[str, str] = {}
    keys: dict[str, int] = {}
    offsets: dict[tuple[str, int], int] = {}
    for index, rule in enumerate(rules):
        where = f"rules.{index}"
        key = _key(rule)
        if key in keys:
            problems[f"{where}.key"] = f"is the same as rules.{keys[key]}'s"
        keys.setdefault(key, index)
        slot = (rule.channel, rule.offset_minutes)
        if slot in offsets:
            problems[f"{where}.offset_minutes"] = (
                f"rules.{offsets[slot]} already sends by {rule.channel} at this offset"
            )
        offsets.setdefault(slot, index)
        if rule.template_id is not None:
            template = session.get(Template, rule.template_id)
            if template is None or template.archived_at is not None:
                problems[f"{where}.template_id"] = "no such template"
            elif template.channel != rule.channel:
                problems[f"{where}.template_id"] = (
                    f"is an {template.channel} template; this rule sends {rule.channel}"
                )
    return problems


def _wording_problem(name: str, value: str) -> str | None:
    text = value.replace("{when}", "tomorrow")
    if "{" in text or "}" in text:
        return "may hold no placeholder but {when}"
    if not text.strip():
        return "is empty"
    found = find_phi(text)
    if found:
        return "goes to clients without a BAA, so may not hold " + ", ".join(found)
    return None


def _settings_problems(values: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for name in WORDINGS:
        problem = _wording_problem(name, str(values[name]))
        if problem:
            problems[f"settings.{name}"] = problem
    if values["quiet_hours_start"] == values["quiet_hours_end"]:
        problems["settings.quiet_hours_end"] = "must differ from quiet_hours_start"
    return problems


def _save_rules(session: Session, rules: list[RuleIn]) -> tuple[list[str], list[str]]:
    """Write the set; returns (keys changed or added, keys removed)."""
    existing = {row.key: row for row in stored_rules(session)}
    changed: list[str] = []
    now = utcnow()
    for rule in rules:
        key = _key(rule)
        row = existing.pop(key, None)
        if row is None:
            row = ReminderRule(key=key)
            session.add(row)
        fields = (rule.offset_minutes, rule.channel, rule.template_id, rule.enabled)
        before = (row.offset_minutes, row.channel, row.template_id, row.enabled)
        if fields != before or row.removed_at is not None:
            changed.append(key)
        timing_changed = row.id is not None and before[:2] != fields[:2]
        row.offset_minutes, row.channel, row.template_id, row.enabled = fields
        row.removed_at = None
        if timing_changed:
            session.flush()
            _replan_pending(session, row)
    removed = [key for key, row in existing.items() if row.removed_at is None]
    for key in removed:
        existing[key].removed_at = now
        existing[key].enabled = False
    session.flush()
    return changed, removed


def _replan_pending(session: Session, row: ReminderRule) -> None:
    """A rule's offset or channel changed: its pending reminders are planned again."""
    session.execute(
        update(Reminder)
        .where(Reminder.rule_id == row.id, Reminder.status == ReminderStatus.PENDING)
        .values(start_at=None, channel=row.channel)
    )


def _save_settings(session: Session, values: dict[str, Any]) -> list[str]:
    row = session.get(ReminderSettings, "practice")
    if row is None:
        row = ReminderSettings(id="practice", **DEFAULT_SETTINGS)
        session.add(row)
    changed = [name for name in SETTING_NAMES if getattr(row, name) != values[name]]
    for name in changed:
        setattr(row, name, values[name])
    session.flush()
    return changed


def put_rules(session: Session, body: RulesPut, *, user_id: str, origin: RequestOrigin) -> None:
    """Replace the rules (and the settings given), or refuse the whole with every problem."""
    values = dict(vars(practice_settings(session)))
    if body.settings is not None:
        values.update(body.settings.model_dump(exclude_none=True))
    problems = _rule_problems(session, body.rules) | _settings_problems(values)
    if problems:
        summary = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
        raise ValidationFailed(f"invalid reminder rules: {summary}", fields=problems)
    changed, removed = _save_rules(session, body.rules)
    settings_changed = _save_settings(session, values)
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.REMINDER_RULES_CHANGED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "rules": len(body.rules),
            "changed": changed,
            "removed": removed,
            "settings_changed": settings_changed,
        },
    )
