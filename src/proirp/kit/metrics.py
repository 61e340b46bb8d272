"""The product's Prometheus metrics that count as things happen, in this process's registry.

Every label comes from a small fixed set the code itself names (a provider, an operation, a
provider's error code, a webhook, a reason): never a client, an address, a body, a token or
anything a person typed. The gauges read from the database at scrape time live in
`proirp.metrics`; see docs/decisions/0016-metrics.md.
"""

from __future__ import annotations

import re
from typing import Literal

from prometheus_client import Counter, Histogram

# A provider's error code as it may stand in a label: short, plain characters (Twilio's 21211,
# an HTTP status, an OAuth error such as invalid_grant). Anything else is counted as "other".
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")

WebhookRefusal = Literal["bad_signature", "malformed"]

PROVIDER_CALL_SECONDS = Histogram(
    "proirp_provider_call_seconds",
    "How long a call to a provider (Twilio, SendGrid, Google, Microsoft) took, answered or not.",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_ERRORS = Counter(
    "proirp_provider_errors",
    "Calls to a provider that failed, by the provider's error code (or what kind of failure).",
    ["provider", "code"],
)
WEBHOOK_REJECTIONS = Counter(
    "proirp_webhook_rejections",
    "Provider webhook requests refused: a signature that does not verify, or unreadable content.",
    ["source", "reason"],
)
CALENDAR_SYNC_FAILURES = Counter(
    "proirp_calendar_sync_failures",
    "Calendar syncs that failed (the provider refused or could not be reached, or ours broke).",
    ["provider"],
)
AUDIT_ROWS_APPENDED = Counter(
    "proirp_audit_rows_appended",
    "Rows appended to the audit log by this process.",
)


def error_code_label(code: str | None, *, otherwise: str) -> str:
    """`code` if it is fit for a label; `otherwise` when there is none; "other" if it is not."""
    if code is None or code == "":
        return otherwise
    return code if _CODE.match(code) else "other"


def count_webhook_rejection(*, provider: str, hook: str, reason: WebhookRefusal) -> None:
    WEBHOOK_REJECTIONS.labels(source=f"{provider}/{hook}", reason=reason).inc()


def count_calendar_sync_failure(provider: str) -> None:
    CALENDAR_SYNC_FAILURES.labels(provider=provider).inc()


def count_audit_rows(rows: int) -> None:
    if rows:
        AUDIT_ROWS_APPENDED.inc(rows)
