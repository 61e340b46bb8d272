"""The OAuth dance with the sandbox's Google, as a browser would do it, and what follows it."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.live import LiveStack, wait_until

ACCOUNT = "clinician@sandbox.example.com"
_FORM = re.compile(r'<form method="post" action="([^"]+)">')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def consent(auth_url: str, *, decision: str = "allow", account: str = ACCOUNT) -> str:
    """Open Google's consent page, press Allow or Deny: where Google sends the browser back."""
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


def connect(live: LiveStack, token: str | None = None, *, account: str = ACCOUNT) -> httpx.Response:
    """The whole dance: connect, consent (Allow), follow the callback. Returns its answer."""
    with live.api(token) as api:
        auth_url = api.get("/calendar/google/connect").json()["authUrl"]
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
