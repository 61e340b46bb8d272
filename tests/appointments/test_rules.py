"""GET and PUT /reminders/rules: the defaults, a whole set replaced, every problem a 422 naming
its field, admins only, audited."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.comms.models import Template
from tests.factories import Staff

SMS_24H = {"offset_minutes": 1440, "channel": "sms"}


def _put(api: TestClient, admin: Staff, **body: Any) -> Any:
    return api.put("/reminders/rules", json=body, headers=admin.headers)


def test_defaults_are_24_and_2_hours_by_sms_and_email_off(api: TestClient, admin: Staff) -> None:
    answer = api.get("/reminders/rules", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    rules = {(r["channel"], r["offset_minutes"]): r["enabled"] for r in answer.json()["rules"]}
    assert rules == {("sms", 1440): True, ("sms", 120): True, ("email", 1440): False}
    settings = answer.json()["settings"]
    assert (settings["quiet_hours_start"], settings["quiet_hours_end"]) == ("21:00", "08:00")
    assert settings["grace_minutes"] == 60
    assert (settings["daily_cap"], settings["weekly_cap"]) == (1, 3)


def test_put_replaces_the_set_and_is_audited(api: TestClient, admin: Staff, db: Session) -> None:
    body = {
        "rules": [SMS_24H, {"key": "morning-of", "offset_minutes": 180, "channel": "sms"}],
        "settings": {"grace_minutes": 30, "quiet_hours_start": "20:30"},
    }
    answer = _put(api, admin, **body)
    assert answer.status_code == 200, answer.text
    keys = [r["key"] for r in answer.json()["rules"]]
    assert keys == ["sms-1440m", "morning-of"]
    assert answer.json()["settings"]["grace_minutes"] == 30
    again = _put(api, admin, rules=[SMS_24H])
    assert [r["key"] for r in again.json()["rules"]] == ["sms-1440m"]
    audits = db.scalars(select(AuditLog).where(AuditLog.action == "REMINDER_RULES_CHANGED")).all()
    assert len(audits) == 2
    assert audits[1].details["removed"] == ["morning-of"]
    assert audits[1].actor_user_id == admin.user.id


def _template(db: Session, channel: str) -> Template:
    row = Template(
        name=f"reminder {channel}",
        channel=channel,
        subject="Reminder" if channel == "email" else None,
        body="See you soon.",
        variables=[],
    )
    db.add(row)
    db.flush()
    return row


@pytest.mark.parametrize(
    ("rules", "changes", "field", "words"),
    [
        ([SMS_24H, SMS_24H], None, "rules.1.offset_minutes", "already sends by sms"),
        ([{"offset_minutes": 1, "channel": "sms"}], None, "rules.0.offset_minutes", "greater"),
        ([{"offset_minutes": 99999, "channel": "sms"}], None, "rules.0.offset_minutes", "less"),
        ([{**SMS_24H, "template_id": "nope"}], None, "rules.0.template_id", "no such template"),
        ([{**SMS_24H, "template_id": "EMAIL"}], None, "rules.0.template_id", "email template"),
        ([{**SMS_24H, "channel": "fax"}], None, "rules.0.channel", "sms"),
        ([], {"sms_wording": "See you at 3pm {when}"}, "settings.sms_wording", "appointment"),
        ([], {"sms_wording": "Hi {name}"}, "settings.sms_wording", "placeholder"),
        ([], {"quiet_hours_end": "25:00"}, "settings.quiet_hours_end", "HH:MM"),
        ([], {"grace_minutes": -1}, "settings.grace_minutes", "greater"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    api: TestClient,
    admin: Staff,
    db: Session,
    rules: list[dict[str, Any]],
    changes: dict[str, Any] | None,
    field: str,
    words: str,
) -> None:
    email_template = _template(db, "email")
    rules = [
        {**r, "template_id": email_template.id} if r.get("template_id") == "EMAIL" else r
        for r in rules
    ]
    answer = _put(api, admin, rules=rules, **({"settings": changes} if changes else {}))
    assert answer.status_code == 422, answer.text
    fields = answer.json()["error"]["fields"]
    assert words in fields[field], fields
    assert not db.scalars(select(AuditLog).where(AuditLog.action == "REMINDER_RULES_CHANGED")).all()


def test_only_admins_see_or_change_rules(api: TestClient, staff: Staff) -> None:
    assert api.get("/reminders/rules", headers=staff.headers).status_code == 403
    assert _put(api, staff, rules=[]).status_code == 403
