"""The sender: due reminders go once through comms (the guard applies), PHI-free without a BAA,
the template with one; expired after the grace period; held by the TCPA caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder, ReminderRule
from proirp.appointments.rules import put_rules
from proirp.appointments.schemas import RulesPut
from proirp.audit.models import AuditLog
from proirp.audit.service import RequestOrigin
from proirp.auth.models import User
from proirp.clients.models import OptOut
from proirp.comms.models import Template
from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.appointments.conftest import (
    MONDAY,
    appointment,
    messages_to,
    plan,
    reminders_of,
    send,
    sms_client,
)

START = MONDAY + timedelta(days=1, hours=4)  # Tuesday 10:00 in Chicago


def test_a_due_reminder_goes_once_without_phi(
    db: Session, clinician: User, settings: Settings
) -> None:
    client = sms_client(db, first_name="Marisol", last_name="Okafor")
    with set_clock(MONDAY) as clock:
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        assert send(db, settings).claimed == 0  # nothing due yet
        clock.advance(timedelta(hours=4))  # the 24-hour reminder is due
        assert send(db, settings).outcomes == {"queued": 1}
        assert send(db, settings).claimed == 0  # run again: nothing more
    [message] = messages_to(db, client)
    assert (
        message.body == "You have an appointment tomorrow. Reply C to confirm or R to reschedule."
    )
    assert message.status == "queued" and message.user_id == clinician.id
    first = reminders_of(db, appt)[0]
    assert (first.status, first.communication_id) == ("queued", message.id)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "REMINDER_QUEUED")).one()
    assert audit.actor_user_id is None and audit.client_id == client.id
    sms_audit = db.scalars(select(AuditLog).where(AuditLog.action == "SMS_QUEUED")).one()
    assert sms_audit.actor_user_id is None


def test_the_rule_template_is_used_only_with_a_baa(
    db: Session, clinician: User, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = Template(
        name="reminder with time",
        channel="sms",
        body="{{ practice.name }}: see you {{ appointment.start_local }}.",
        variables=[
            {"name": "practice.name", "phi": False},
            {"name": "appointment.start_local", "phi": True},
        ],
    )
    db.add(template)
    db.flush()
    with set_clock(MONDAY) as clock:
        plan(db, settings)  # stores the default rules
        rule = db.scalars(select(Reminder).limit(1)).first()
        row = db.scalars(select(ReminderRule).where(ReminderRule.key == "sms-1440m")).one()
        row.template_id = template.id
        client = sms_client(db)
        appointment(db, client, clinician, START)
        plan(db, settings)
        monkeypatch.setattr(settings, "twilio_hipaa_enabled", True)
        clock.advance(timedelta(hours=4))
        send(db, settings)
    assert rule is None
    [message] = messages_to(db, client)
    assert message.body == f"{settings.practice_name}: see you Tuesday, January 15 at 10:00 AM."
    assert message.template_id == template.id


def test_past_the_grace_period_it_expires(db: Session, clinician: User, settings: Settings) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=5, minutes=1))  # 61 minutes past the 24-hour's due time
        counts = send(db, settings)
    assert counts.expired == 1 and counts.claimed == 0
    assert [r.status for r in reminders_of(db, appt)] == ["expired", "pending"]
    assert messages_to(db, client) == []


def test_a_sent_reminder_is_not_sent_again_when_the_appointment_moves(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4))
        send(db, settings)
        appt.start_at = START + timedelta(hours=1)  # moved: the 24-hour one is due again
        db.flush()
        plan(db, settings)
        clock.advance(timedelta(hours=1))
        send(db, settings)
    assert len(messages_to(db, client)) == 1
    assert [r.status for r in reminders_of(db, appt)] == ["queued", "pending"]


def test_moved_after_planning_is_rescheduled_at_send_time(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4))
        appt.start_at = START + timedelta(days=1)  # moved; the planner has not run since
        db.flush()
        assert send(db, settings).outcomes == {"rescheduled": 1}
    # The 24-hour one moved a day on; the 2-hour one moves when the planner next runs.
    assert [(r.status, r.due_at) for r in reminders_of(db, appt)] == [
        ("pending", START - timedelta(hours=2)),
        ("pending", START),
    ]
    assert messages_to(db, client) == []


def test_a_cancelled_appointment_is_not_reminded(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        appt.state = "cancelled"
        db.flush()
        clock.advance(timedelta(hours=4))
        send(db, settings)  # before the planner: the sender looks again itself
    assert reminders_of(db, appt)[0].status == "cancelled"
    assert messages_to(db, client) == []


def test_the_guard_still_applies(db: Session, clinician: User, settings: Settings) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        db.add(OptOut(channel="sms", address=client.phone, reason="replied STOP", source="test"))
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4))
        send(db, settings)
    first = reminders_of(db, appt)[0]
    assert first.status == "skipped" and "opted out" in (first.reason or "")
    assert [m.status for m in messages_to(db, client)] == ["blocked"]


def test_one_a_day_and_three_a_week(db: Session, clinician: User, settings: Settings) -> None:
    client = sms_client(db)
    with set_clock(MONDAY) as clock:
        # Two appointments the same Tuesday afternoon, and one each on Wed, Thu, Fri, Sat.
        starts = [START + timedelta(hours=h) for h in (3, 5)]
        starts += [START + timedelta(days=d, hours=3) for d in (1, 2, 3, 4)]
        appts = [appointment(db, client, clinician, s) for s in starts]
        body = RulesPut.model_validate({"rules": [{"offset_minutes": 1440, "channel": "sms"}]})
        put_rules(db, body, user_id=clinician.id, origin=RequestOrigin())
        plan(db, settings)
        for _ in range(6 * 24 * 60 // 30):
            clock.advance(timedelta(minutes=30))
            send(db, settings)
    statuses = [reminders_of(db, a)[0].status for a in appts]
    assert statuses == ["queued", "held", "queued", "queued", "held", "held"]
    reasons = [reminders_of(db, a)[0].reason or "" for a in appts]
    assert "today" in reasons[1] and "7 days" in reasons[4]
    assert len(messages_to(db, client)) == 3


def test_an_email_rule_sends_the_phi_free_email(
    db: Session, clinician: User, settings: Settings
) -> None:
    body = RulesPut.model_validate({"rules": [{"offset_minutes": 1440, "channel": "email"}]})
    with set_clock(MONDAY) as clock:
        put_rules(db, body, user_id=clinician.id, origin=RequestOrigin())
        client = sms_client(db)
        client.email_consent = True
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4))
        send(db, settings)
    [message] = messages_to(db, client)
    assert (message.channel, message.status, message.subject) == (
        "email",
        "queued",
        "Appointment reminder",
    )
    assert message.body.startswith("You have an appointment tomorrow.")
    assert reminders_of(db, appt)[0].communication_id == message.id
