"""The OAuth dance with the sandbox's Google or Microsoft, as a browser would do it, and what
follows it. Both consent pages are forms with hidden fields, an account and Allow/Deny."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select, update

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken
from proirp.auth.secrets import token_digest
from proirp.calendars.models import CalendarIntegration, CalendarPushChannel
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.kit.time import utcnow
from tests.live import LiveStack, create_user_with_token, wait_until

ACCOUNT = "clinician@sandbox.example.com"
OUTLOOK_ACCOUNT = "clinician@lakeside.onmicrosoft.com"
_FORM = re.compile(r'<form method="post" action="([^"]+)">')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def consent(auth_url: str, *, decision: str = "allow", account: str = ACCOUNT) -> str:
    """Open the consent page, press Allow or Deny: where the provider sends the browser back."""
    page = httpx.get(auth_url, timeout=30)
    page.raise_for_status()
    action = unescape(_FORM.search(page.text).group(1))  # type: ignore[union-attr]
    fields = {unescape(k): unescape(v) for k, v in _HIDDEN.findall(page.text)}
    fields |= {"account": account, "decision": decision}
    answer = httpx.post(httpx.URL(auth_url).join(action), data=fields, timeout=30)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def connect(
    live: LiveStack,
    token: str | None = None,
    *,
    account: str | None = None,
    provider: str = "google",
) -> httpx.Response:
    """The whole dance: connect, consent (Allow), follow the callback. Returns its answer."""
    account = account or (OUTLOOK_ACCOUNT if provider == "microsoft" else ACCOUNT)
    with live.api(token) as api:
        auth_url = api.get(f"/calendar/{provider}/connect").json()["authUrl"]
        back = consent(auth_url, account=account)
        return api.get(back)


def integrations(live: LiveStack, token: str | None = None) -> list[dict[str, object]]:
    with live.api(token) as api:
        found: list[dict[str, object]] = api.get("/calendar/integrations").json()["integrations"]
        return found


def wait_for_sync(live: LiveStack, token: str | None = None, *, after: object = None) -> None:
    def synced() -> bool:
        rows = integrations(live, token)
        return bool(rows) and rows[0]["last_synced_at"] not in (None, after)

    assert wait_until(synced, timeout=30, interval=0.2), integrations(live, token)
    wait_for_push(live)


def wait_for_push(live: LiveStack) -> None:
    """Let the worker finish setting push up for every connected calendar (a channel made, or
    the reason it could not be), so that its provider calls are not counted as a test's own."""

    def settled() -> bool:
        with live.session() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(CalendarIntegration)
                .outerjoin(
                    CalendarPushChannel,
                    CalendarPushChannel.integration_id == CalendarIntegration.id,
                )
                .where(
                    CalendarIntegration.status == "active",
                    CalendarPushChannel.id.is_(None),
                )
            )
            return not pending

    wait_until(settled, timeout=10, interval=0.1)


def new_user(live: LiveStack, role: str = "clinician") -> str:
    """A new staff member's API token."""
    _id, token = create_user_with_token(
        live.engine, email=f"{role}{utcnow().timestamp()}@clinic.example.com", role=role
    )
    return token


def new_client(live: LiveStack, token: str) -> str:
    """A client on the care team of the staff member whose API token is `token`."""
    with live.session() as session:
        client = Client(first_name="Avery", last_name="Quinn", timezone="America/Chicago")
        session.add(client)
        session.flush()
        user_id = session.scalar(
            select(ApiToken.user_id).where(ApiToken.token_hash == token_digest(token))
        )
        assert user_id is not None
        session.add(CareTeamMember(client_id=client.id, user_id=user_id))
        session.commit()
        return client.id


def audits(live: LiveStack, action: str) -> list[dict[str, Any]]:
    with live.session() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        )
        return [dict(row.details) for row in rows]


def expire_access_tokens(live: LiveStack, integration_id: str | None = None) -> None:
    """Every stored access token (or only that calendar's) looks expired, so the next use
    refreshes it."""
    expired = update(CalendarIntegration).values(token_expires_at=utcnow() - timedelta(minutes=1))
    if integration_id is not None:
        expired = expired.where(CalendarIntegration.id == integration_id)
    with live.session() as session:
        session.execute(expired)
        session.commit()


def event_body(provider: str, **extra: Any) -> dict[str, Any]:
    """POST /calendar/events: an hour, two days from now."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {
        "provider": provider,
        "title": "Intake session",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "timeZone": "America/Chicago",
        **extra,
    }


def next_days(days: int = 7) -> dict[str, str]:
    return {
        "start": datetime.now(UTC).isoformat(),
        "end": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
    }


def cached(live: LiveStack, token: str) -> int:
    """How many events the user's calendar shows (from the cache), over the sync window."""
    window = {
        "start": (datetime.now(UTC) - timedelta(days=29)).isoformat(),
        "end": (datetime.now(UTC) + timedelta(days=179)).isoformat(),
    }
    with live.api(token) as api:
        return len(api.get("/calendar/events", params=window).json()["events"])
