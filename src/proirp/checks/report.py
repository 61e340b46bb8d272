"""What one provider's check found, and how it reads on a terminal.

A provider is *not configured* (no credentials: the built-in sandbox stands in where there is
one), *configured* (set up and well-formed, nothing to call yet), *working* (the provider
accepted what was asked of it) or *failing* (a setting is wrong or the provider refused).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum

from proirp.config import Settings
from proirp.integrations.base import ProviderError, ProviderTemporaryError


class Status(StrEnum):
    NOT_CONFIGURED = "not configured"
    CONFIGURED = "configured"
    WORKING = "working"
    FAILING = "failing"


@dataclass(frozen=True)
class Line:
    kind: str  # ok (the provider accepted it) | passed (checked here) | fail | skip
    text: str
    detail: str | None = None  # printed on a line of its own (the Message SID, ...)


@dataclass
class Report:
    key: str  # the Node version's summary name: Twilio, Sendgrid, GoogleCalendar, ...
    title: str
    icon: str
    baa: str | None = None
    configured: bool = True
    lines: list[Line] = field(default_factory=list)
    test_sent: bool = False  # a test SMS or email went to the operator

    def ok(self, text: str, detail: str | None = None) -> None:
        """Something the provider accepted."""
        self.lines.append(Line("ok", text, detail))

    def passed(self, text: str) -> None:
        """A setting checked without calling the provider."""
        self.lines.append(Line("passed", text))

    def fail(self, text: str) -> None:
        self.lines.append(Line("fail", text))

    def skip(self, text: str) -> None:
        """Something not tried, and why."""
        self.lines.append(Line("skip", text))

    def not_configured(self, text: str) -> None:
        self.configured = False
        self.skip(text)

    @property
    def status(self) -> Status:
        if not self.configured:
            return Status.NOT_CONFIGURED
        if any(line.kind == "fail" for line in self.lines):
            return Status.FAILING
        if any(line.kind == "ok" for line in self.lines):
            return Status.WORKING
        return Status.CONFIGURED


def refusal(exc: ProviderError, address: str | None = None) -> str:
    """The provider's reason in plain English, with its code; for a provider that could not be
    reached, the address tried."""
    reason = exc.reason.rstrip(".")
    if isinstance(exc, ProviderTemporaryError) and exc.code is None and address:
        return (
            f"{reason} at {address} (refused, timed out or not trusted; see 'Connection failures')"
        )
    return f"{reason} (error {exc.code})" if exc.code and exc.code not in reason else reason


def stand_in(settings: Settings, variables: str, what: str) -> str:
    """What happens without a provider's credentials, here."""
    if settings.sandbox_allowed:
        return f"{variables} not set: the built-in sandbox stands in"
    return f"{variables} not set: {what} is off on this server (production never uses the sandbox)"


MARKS = {"ok": "✅", "passed": "✅", "fail": "❌", "skip": "⚪"}
PLAIN_MARKS = {"ok": "[ok]", "passed": "[ok]", "fail": "[FAIL]", "skip": "[--]"}
STATUS_MARK = {
    Status.WORKING: "ok",
    Status.CONFIGURED: "ok",
    Status.FAILING: "fail",
    Status.NOT_CONFIGURED: "skip",
}


class Renderer:
    """Text for the terminal; emoji where the terminal can show them, and never a secret."""

    def __init__(self, secrets: list[str], *, encoding: str | None = None) -> None:
        # Longest first, so a secret that contains another is hidden whole.
        self._secrets = sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True)
        encoding = encoding or sys.stdout.encoding or "ascii"
        try:
            "".join(MARKS.values()).encode(encoding)
            "📊📱📧📅🤖💳🧪📦".encode(encoding)
            self._fancy = True
        except (UnicodeEncodeError, LookupError):
            self._fancy = False

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[hidden]")
        return text

    def _mark(self, kind: str) -> str:
        return (MARKS if self._fancy else PLAIN_MARKS)[kind]

    def heading(self, source: str) -> str:
        icon = "🧪 " if self._fancy else ""
        return f"{icon}Checking Pro IRP's third-party integrations\n   Settings: {source}\n"

    def section(self, report: Report) -> str:
        icon = f"{report.icon} " if self._fancy else ""
        out = [f"{icon}{report.title}" + (f"  ·  BAA: {report.baa}" if report.baa else "")]
        for line in report.lines:
            out.append(f"   {self._mark(line.kind)} {line.text}")
            if line.detail:
                out.append(f"   {line.detail}")
        return self._clean("\n".join(out) + "\n")

    def summary(self, reports: list[Report]) -> str:
        icon = "📊 " if self._fancy else ""
        out = [f"{icon}Test Results Summary:"]
        width = max(len(report.key) for report in reports)
        for report in reports:
            mark = self._mark(STATUS_MARK[report.status])
            status = f"{report.status.value:<14}"
            baa = f"  BAA: {report.baa}" if report.baa else ""
            out.append(f"   {mark} {report.key:<{width}}  {status}{baa}".rstrip())
        out.append("")
        out.append(verdict(reports))
        return self._clean("\n".join(out) + "\n")


def verdict(reports: list[Report]) -> str:
    failing = [r.key for r in reports if r.status is Status.FAILING]
    if failing:
        count = len(failing)
        return (
            f"{count} integration{'s' if count > 1 else ''} failing: {', '.join(failing)}. "
            "See docs/THIRD-PARTY-SETUP.md, 'When a check fails'."
        )
    if all(r.status is Status.NOT_CONFIGURED for r in reports):
        return (
            "Nothing is configured: the built-in sandbox stands in for Twilio, SendGrid, Google "
            "and Microsoft. docs/THIRD-PARTY-SETUP.md says how to set each one up."
        )
    return "Every configured integration works."


def exit_status(reports: list[Report]) -> int:
    """0 only if nothing configured is failing."""
    return 1 if any(r.status is Status.FAILING for r in reports) else 0
