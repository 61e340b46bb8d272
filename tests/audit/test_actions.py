"""Every audit action is an AuditAction member with its published name: reports and auditors
search the log by these names, so a bare string (a typo, a new name nobody listed) must fail."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import proirp
from proirp.audit.actions import AuditAction
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit

# The names rows already carry. Add to this list; never change or remove a name on it.
PUBLISHED = {
    "SANDBOX_OUTBOX_VIEWED",
    "LOGIN_SUCCEEDED",
    "LOGIN_FAILED",
    "LOGIN_THROTTLED",
    "LOGOUT",
    "USER_CREATED",
    "CLIENT_CREATED",
    "CLIENT_VIEWED",
    "CLIENTS_LISTED",
    "CLIENT_UPDATED",
    "CLIENT_DELETED",
    "AUDIT_LOG_VIEWED",
    "AUDIT_CHAIN_VERIFIED",
    "ENCRYPTION_KEYS_ROTATED",
    "TEMPLATE_CREATED",
    "TEMPLATE_UPDATED",
    "TEMPLATE_ARCHIVED",
    "INTEGRATIONS_CHECKED",
    "SMS_QUEUED",
    "SMS_BLOCKED",
    "SMS_SENT",
    "SMS_FAILED",
    "SMS_RECONCILED",
    "SMS_STATUS_CHANGED",
    "SMS_RECEIVED",
    "SMS_OPT_OUT",
    "SMS_OPT_IN",
    "SMS_HELP",
    "EMAIL_QUEUED",
    "EMAIL_BLOCKED",
    "EMAIL_SENT",
    "EMAIL_FAILED",
    "EMAIL_RECONCILED",
    "EMAIL_STATUS_CHANGED",
    "EMAIL_SUPPRESSED",
    "EMAIL_RESUBSCRIBED",
    "CAMPAIGN_CREATED",
    "CAMPAIGN_CANCELLED",
    "COMMUNICATION_CANCELLED",
    "COMMUNICATIONS_LISTED",
    "COMMUNICATION_VIEWED",
    "WEBHOOK_REJECTED",
    "MESSAGE_VIEWED",
    "INBOX_VIEWED",
    "MESSAGES_READ",
    "INBOUND_ATTACHED",
    "INBOX_SETTINGS_CHANGED",
    "URGENT_MESSAGE_RECEIVED",
    "URGENT_ALERT_SENT",
    "URGENT_ALERT_NOT_SENT",
    "URGENT_ACKNOWLEDGED",
    "CALENDAR_CONNECTED",
    "CALENDAR_AUTH_FAILED",
    "CALENDAR_SYNCED",
    "CALENDAR_EVENTS_VIEWED",
    "CALENDAR_EVENT_CREATED",
    "CALENDAR_DISCONNECTED",
}
SOURCE = Path(proirp.__file__).parent
# Parameters that carry an action through a domain's own audit helper.
ACTION_PARAMETERS = {"action", "failed_action"}
ACTION_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|[A-Z]{4,}")


def test_every_published_name_is_still_a_member_with_that_value() -> None:
    assert {action.value for action in AuditAction} >= PUBLISHED
    for action in AuditAction:
        assert action.name == action.value, "the member's name is the name rows carry"


def test_a_bare_string_is_refused_and_nothing_is_written(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(AuditLog))
    for name in ("CLIENT_VIEWED", "SOMETHING_NEW"):
        with pytest.raises(TypeError, match="not an AuditAction"):
            record_audit(db, actor=None, action=cast(Any, name))
    assert db.scalar(select(func.count()).select_from(AuditLog)) == before


def _bare_actions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, value) of each string literal given as an action: by keyword to anything, or, shaped
    like an action's name, by position to a function whose name says it audits."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg in ACTION_PARAMETERS and isinstance(keyword.value, ast.Constant):
                found.append((node.lineno, repr(keyword.value.value)))
        callee = node.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if "audit" in name.lower():
            for argument in node.args:
                value = argument.value if isinstance(argument, ast.Constant) else None
                if isinstance(value, str) and ACTION_NAME.fullmatch(value):
                    found.append((node.lineno, repr(value)))
    return found


def test_no_module_names_an_action_with_a_bare_string() -> None:
    offenders = [
        f"{path.relative_to(SOURCE)}:{line}: {value}"
        for path in sorted(SOURCE.rglob("*.py"))
        if "sandbox" not in path.relative_to(SOURCE).parts
        for line, value in _bare_actions(ast.parse(path.read_text(), str(path)))
    ]
    assert not offenders, f"use an AuditAction member (add one if it is new): {offenders}"
