"""The route, role and ownership matrix: minimum necessary, route by route.

Every signed-in route and page the app serves has a decision here, or
`test_every_signed_in_route_has_an_ownership_decision` fails. Then, for each, a clinician who is
not on a client's care team ("the other clinician") calls it with that client's records:

- RECORD: a route or page for one record (a client, a message, a picture, an appointment, a
  campaign): refused as a record that does not exist (404); the owning clinician (or, for the
  unmatched queue, the front desk) is not refused, so the refusal is the access rule's.
- NAMES: a request that names the client in its body or form: refused with 422 naming the field,
  in the words used for a client that does not exist.
- LIST: a list, search or export: answers, without the client.
- OWN_CALENDAR: a calendar event, which is its user's own: another's is a 404.
- ROLE: clinicians may not call it at all (403; tests/test_route_roles.py).
- NONE: holds no client's data (the reason is given).
- EMERGENCY: POST /break-glass, the audited way in (tests/clients/test_break_glass.py).

And for every one of them, the other clinician's answer holds nothing of the client's records
(its id, name, number, address, message ids, the campaign) beyond what the request itself sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.auth.secrets import csrf_for
from tests.factories import Staff
from tests.ownership_world import LAST_NAME, World, build_world
from tests.test_route_roles import PAGES, PROTECTED, served_routes


class Kind(Enum):
    RECORD = "record"
    NAMES = "names"
    LIST = "list"
    OWN_CALENDAR = "own calendar"
    ROLE = "role"
    NONE = "none"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class Decision:
    kind: Kind
    why: str = ""
    query: str = ""  # added to the path, with the world's ids filled in
    body: dict[str, Any] | None = None  # JSON for the API, form fields for a page
    path_ids: dict[str, str] = field(default_factory=dict)  # a parameter -> another record
    field: str = "client_id"  # NAMES: the field the refusal names
    owner: str | None = "owner"  # who is not refused (RECORD, NAMES) or sees it (LIST)


R, N, L, C = Kind.RECORD, Kind.NAMES, Kind.LIST, Kind.OWN_CALENDAR
ROLE = Decision(Kind.ROLE)
OWN = Decision(C, owner=None)
STAFF_ONLY = "staff"  # the unmatched queue: the front desk is the one not refused
SMS = {"type": "sms", "body": "Hello"}
EVENT = {"provider": "google", "title": "Session", "start": "2030-01-15T15:00:00Z"}
EVENT["end"] = "2030-01-15T16:00:00Z"

API: dict[tuple[str, str], Decision] = {
    ("POST", "/auth/logout"): Decision(Kind.NONE, "the caller's own session"),
    ("GET", "/auth/me"): Decision(Kind.NONE, "the caller's own account"),
    ("POST", "/auth/logout-everywhere"): Decision(Kind.NONE, "the caller's own sessions"),
    ("GET", "/auth/mfa"): Decision(Kind.NONE, "the caller's own second factor"),
    ("POST", "/auth/mfa/enrolment"): Decision(Kind.NONE, "the caller's own second factor"),
    ("POST", "/auth/mfa/enrolment/confirm"): Decision(Kind.NONE, "the caller's own"),
    ("POST", "/auth/mfa/recovery-codes"): Decision(Kind.NONE, "the caller's own"),
    ("GET", "/users"): ROLE,
    ("POST", "/users/{user_id}/disable"): ROLE,
    ("POST", "/users/{user_id}/enable"): ROLE,
    ("POST", "/users/{user_id}/role"): ROLE,
    ("POST", "/users/{user_id}/password-reset"): ROLE,
    ("POST", "/users/{user_id}/mfa/reset"): ROLE,
    ("GET", "/clients"): Decision(L, query="q=" + LAST_NAME),
    ("POST", "/clients"): Decision(Kind.NONE, "creates a client; a clinician's joins their team"),
    ("GET", "/clients/{client_id}"): Decision(R),
    ("PATCH", "/clients/{client_id}"): Decision(R, body={}),
    ("DELETE", "/clients/{client_id}"): ROLE,
    ("GET", "/audit-logs"): ROLE,
    ("POST", "/audit-logs/verify"): ROLE,
    ("POST", "/comms"): Decision(N, body={"client_id": "{client_id}", **SMS}),
    ("GET", "/comms"): Decision(L, query="client_id={client_id}"),
    ("GET", "/comms/{comm_id}"): Decision(R),
    ("POST", "/comms/bulk"): Decision(
        N, body={"client_ids": ["{client_id}"], **SMS}, field="client_ids"
    ),
    ("GET", "/campaigns/{campaign_id}"): Decision(R),
    ("POST", "/comms/{comm_id}/cancel"): Decision(R),
    ("GET", "/campaigns"): Decision(L),
    ("POST", "/campaigns/{campaign_id}/cancel"): Decision(R),
    ("GET", "/templates"): Decision(Kind.NONE, "templates are the practice's, not a client's"),
    ("GET", "/templates/{template_id}"): Decision(Kind.NONE, "a template"),
    ("POST", "/templates"): Decision(Kind.NONE, "a template"),
    ("PATCH", "/templates/{template_id}"): Decision(Kind.NONE, "a template"),
    ("DELETE", "/templates/{template_id}"): Decision(Kind.NONE, "a template"),
    ("GET", "/calendar/integrations"): Decision(Kind.NONE, "the caller's own calendars"),
    ("DELETE", "/calendar/integrations/{provider}"): Decision(Kind.NONE, "the caller's own"),
    ("POST", "/calendar/integrations/{provider}/sync"): Decision(Kind.NONE, "the caller's own"),
    ("GET", "/calendar/events"): Decision(
        L, query="start=2020-01-01T00:00:00Z&end=2040-01-01T00:00:00Z", owner=None
    ),
    ("POST", "/calendar/events"): Decision(
        N, body={**EVENT, "client_id": "{client_id}"}, owner=None
    ),
    ("PATCH", "/calendar/events/{event_id}"): Decision(C, body={"title": "Moved"}, owner=None),
    ("DELETE", "/calendar/events/{event_id}"): OWN,
    ("POST", "/calendar/events/{event_id}/link"): Decision(
        N, body={"client_id": "{client_id}"}, path_ids={"event_id": "others_event_id"}, owner=None
    ),
    ("DELETE", "/calendar/events/{event_id}/link"): OWN,
    ("GET", "/calendar/sync-status"): Decision(Kind.NONE, "the caller's own calendars"),
    ("GET", "/calendar/{provider}/connect"): Decision(Kind.NONE, "the caller's own calendars"),
    ("GET", "/calendar/{provider}/callback"): Decision(Kind.NONE, "the caller's own calendars"),
    ("GET", "/clients/{client_id}/appointments"): Decision(R),
    ("PATCH", "/appointments/{appointment_id}"): Decision(R, body={}),
    ("GET", "/reminders/rules"): ROLE,
    ("PUT", "/reminders/rules"): ROLE,
    ("GET", "/clients/{client_id}/messages"): Decision(R),
    ("GET", "/inbox"): Decision(L),
    ("GET", "/inbox/unmatched"): Decision(L, owner=STAFF_ONLY),
    ("POST", "/inbox/{message_id}/read"): Decision(R),
    ("POST", "/inbox/{message_id}/attach"): Decision(
        R,
        body={"client_id": "{client_id}"},
        path_ids={"message_id": "unmatched_id"},
        owner=STAFF_ONLY,
    ),
    ("GET", "/comms/{comm_id}/media/{media_id}"): Decision(R, path_ids={"comm_id": "message_id"}),
    ("GET", "/inbox/settings"): ROLE,
    ("PUT", "/inbox/settings"): ROLE,
    ("GET", "/clients/{client_id}/care-team"): Decision(R),
    ("PUT", "/clients/{client_id}/care-team"): ROLE,
    ("POST", "/break-glass"): Decision(Kind.EMERGENCY),
    ("GET", "/break-glass"): Decision(L, owner=None),
    ("POST", "/break-glass/{grant_id}/review"): ROLE,
}

EVENT_FORM = {"provider": "google", "title": "Session", "date": "2030-01-15"}
EVENT_FORM |= {"start": "09:00", "end": "10:00"}
CAMPAIGN_FORM = {"recipients": "pick", "client_ids": "{client_id}", "body": "Hello"}

PAGE_DECISIONS: dict[tuple[str, str], Decision] = {
    ("GET", "/app/"): Decision(L),
    ("POST", "/app/signout"): Decision(Kind.NONE, "the caller's own session"),
    ("POST", "/app/signout-everywhere"): Decision(Kind.NONE, "the caller's own sessions"),
    ("GET", "/app/mfa"): Decision(Kind.NONE, "the caller's own second factor"),
    ("POST", "/app/mfa/enrol"): Decision(Kind.NONE, "the caller's own second factor"),
    ("POST", "/app/mfa/confirm"): Decision(Kind.NONE, "the caller's own second factor"),
    ("POST", "/app/mfa/recovery-codes"): Decision(Kind.NONE, "the caller's own second factor"),
    ("GET", "/app/staff"): ROLE,
    ("POST", "/app/staff/{user_id}/disable"): ROLE,
    ("POST", "/app/staff/{user_id}/enable"): ROLE,
    ("POST", "/app/staff/{user_id}/role"): ROLE,
    ("POST", "/app/staff/{user_id}/password-reset"): ROLE,
    ("POST", "/app/staff/{user_id}/mfa-reset"): ROLE,
    ("GET", "/app/sandbox"): ROLE,
    ("POST", "/app/sandbox/inbound"): ROLE,
    ("GET", "/app/settings"): Decision(Kind.NONE, "the caller's calendars, the practice's rules"),
    ("GET", "/app/live/calendars"): Decision(Kind.NONE, "the caller's own calendars"),
    ("GET", "/app/settings/calendars/{provider}/connect"): Decision(Kind.NONE, "own calendars"),
    ("POST", "/app/settings/calendars/{provider}/sync"): Decision(Kind.NONE, "own calendars"),
    ("POST", "/app/settings/calendars/{provider}/disconnect"): Decision(Kind.NONE, "own"),
    ("POST", "/app/settings/reminders"): ROLE,
    ("POST", "/app/settings/inbox"): ROLE,
    ("GET", "/app/calendar"): Decision(L, owner=None),
    ("GET", "/app/calendar/new"): Decision(R, query="client_id={client_id}"),
    ("POST", "/app/calendar/new"): Decision(
        N, body={**EVENT_FORM, "client_id": "{client_id}"}, owner=None
    ),
    ("POST", "/app/calendar/events/{event_id}/move"): Decision(C, body=EVENT_FORM, owner=None),
    ("POST", "/app/calendar/events/{event_id}/cancel"): OWN,
    ("GET", "/app/calendar/events/{event_id}/link"): OWN,
    ("POST", "/app/calendar/events/{event_id}/link"): Decision(
        N, body={"client_id": "{client_id}"}, path_ids={"event_id": "others_event_id"}, owner=None
    ),
    ("POST", "/app/calendar/events/{event_id}/unlink"): OWN,
    ("GET", "/app/clients"): Decision(L),
    ("POST", "/app/clients/search"): Decision(L, body={"q": LAST_NAME}),
    ("GET", "/app/clients/new"): Decision(R, query="from_message={unmatched_id}", owner=STAFF_ONLY),
    ("POST", "/app/clients"): Decision(
        Kind.NONE, "creates a client; a clinician's joins their team"
    ),
    ("GET", "/app/clients/{client_id}"): Decision(R),
    ("POST", "/app/clients/{client_id}"): Decision(R, body={"first_name": "Marlowe"}),
    ("GET", "/app/clients/{client_id}/messages"): Decision(
        Kind.NONE, "a redirect to the client's page (checked above), nothing of theirs"
    ),
    ("POST", "/app/clients/{client_id}/messages"): Decision(
        R, body={"action": "check", "channel": "sms", "body": "Hello"}
    ),
    ("GET", "/app/live/clients/{client_id}/thread"): Decision(R),
    ("GET", "/app/inbox"): Decision(L),
    ("POST", "/app/inbox/find"): Decision(L, body={"for": "{unmatched_id}", "q": LAST_NAME}),
    ("GET", "/app/inbox/find"): Decision(Kind.NONE, "a redirect to the inbox (checked above)"),
    ("GET", "/app/inbox/messages/{message_id}"): Decision(R),
    ("GET", "/app/live/inbox"): Decision(Kind.NONE, "only whether a newer message came"),
    ("POST", "/app/inbox/{message_id}/attach"): Decision(
        R,
        body={"client_id": "{client_id}"},
        path_ids={"message_id": "unmatched_id"},
        owner=STAFF_ONLY,
    ),
    ("GET", "/app/campaigns"): Decision(L),
    ("GET", "/app/campaigns/new"): Decision(Kind.NONE, "an empty form"),
    ("POST", "/app/campaigns/new"): Decision(N, body=CAMPAIGN_FORM, field="client_ids"),
    ("POST", "/app/campaigns"): Decision(N, body=CAMPAIGN_FORM, field="client_ids"),
    ("GET", "/app/campaigns/{campaign_id}"): Decision(R),
    ("GET", "/app/live/campaigns/{campaign_id}"): Decision(R),
    ("POST", "/app/campaigns/{campaign_id}/cancel"): Decision(R),
    ("GET", "/app/templates"): Decision(Kind.NONE, "templates"),
    ("GET", "/app/templates/new"): Decision(Kind.NONE, "templates"),
    ("POST", "/app/templates"): Decision(Kind.NONE, "templates"),
    ("GET", "/app/templates/{template_id}"): Decision(Kind.NONE, "templates"),
    ("POST", "/app/templates/{template_id}"): Decision(Kind.NONE, "templates"),
    ("POST", "/app/templates/{template_id}/archive"): Decision(Kind.NONE, "templates"),
    ("GET", "/app/audit"): ROLE,
    ("POST", "/app/audit/verify"): ROLE,
    ("POST", "/app/clients/{client_id}/care-team"): ROLE,
    ("GET", "/app/break-glass"): Decision(L, owner=None),
    ("POST", "/app/break-glass"): Decision(Kind.EMERGENCY),
    ("POST", "/app/break-glass/{grant_id}/review"): ROLE,
}


def test_every_signed_in_route_has_an_ownership_decision(app: FastAPI) -> None:
    signed_in = (set(PROTECTED) | set(PAGES)) & served_routes(app)
    decided = set(API) | set(PAGE_DECISIONS)
    assert signed_in - decided == set(), "signed-in routes with no ownership decision"
    assert decided - signed_in == set(), "ownership decisions for routes not served"
    for decision in [*API.values(), *PAGE_DECISIONS.values()]:
        assert decision.kind != Kind.NONE or decision.why, "a NONE decision says why"


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


class _Ids(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "0" * 32


@dataclass(frozen=True)
class Sent:
    response: httpx.Response
    request_text: str  # the path, query and body as sent: what the caller already knew


def _send(
    api: TestClient, world: World, method: str, path: str, decision: Decision, who: Staff
) -> Sent:
    ids = _Ids(world.path_ids())
    for name, other in decision.path_ids.items():
        ids[name] = ids[other]
    url = path.format_map(ids) + (f"?{_fill(decision.query, ids)}" if decision.query else "")
    body = _fill(decision.body, ids) if decision.body is not None else None
    page = path.startswith("/app/")
    api.cookies.clear()
    if page:
        api.cookies.set("proirp_session", who.token)
        form = dict(body or {})
        if method == "POST":
            form["csrf_token"] = csrf_for(who.token)
        data = form if method == "POST" else None
        response = api.request(method, url, data=data, follow_redirects=False)
        api.cookies.clear()
    else:
        if body is None and method in ("POST", "PATCH", "PUT"):
            body = {}
        response = api.request(method, url, headers=who.headers, json=body)
    return Sent(response, f"{url} {body!r}")


def _leaks(world: World, sent: Sent) -> list[str]:
    text = sent.response.text
    return [t for t in world.traces() if t in text and t not in sent.request_text]


def _refused_field(response: httpx.Response, name: str) -> bool:
    if response.status_code != 422:
        return False
    if response.headers.get("content-type", "").startswith("application/json"):
        return name in (response.json()["error"].get("fields") or {})
    return re.search(rf"\b{re.escape(name)}\b", response.text) is not None


CASES = [
    pytest.param(m, p, d, id=f"{m} {p}") for (m, p), d in [*API.items(), *PAGE_DECISIONS.items()]
]


@pytest.mark.parametrize(("method", "path", "decision"), CASES)
def test_a_clinician_gets_nothing_of_another_clinicians_client(
    api: TestClient, db: Session, method: str, path: str, decision: Decision
) -> None:
    world = build_world(db)
    sent = _send(api, world, method, path, decision, world.other)
    response = sent.response
    if decision.kind != Kind.NONE:  # (a NONE route may need a provider this test has none of)
        assert response.status_code < 500, response.text
    leaks = _leaks(world, sent)
    assert leaks == [], f"{method} {path} showed another clinician's client: {leaks}"
    if decision.kind == Kind.RECORD or decision.kind == Kind.OWN_CALENDAR:
        assert response.status_code == 404, response.text
    elif decision.kind == Kind.NAMES:
        assert _refused_field(response, decision.field), response.text
    elif decision.kind == Kind.ROLE:
        assert response.status_code == 403, response.text
    elif decision.kind == Kind.LIST:
        assert response.status_code == 200, response.text

    # The control: who may reach the records is not refused, so the refusal was the rule's.
    if decision.owner is None or decision.kind not in (Kind.RECORD, Kind.NAMES, Kind.LIST):
        return
    who = world.owner if decision.owner == "owner" else world.staff
    db.refresh(world.client)
    allowed = _send(api, world, method, path, decision, who).response
    assert allowed.status_code < 500, allowed.text
    if decision.kind == Kind.RECORD:
        assert allowed.status_code != 404, allowed.text
    elif decision.kind == Kind.NAMES:
        assert not _refused_field(allowed, decision.field), allowed.text
    else:
        assert allowed.status_code == 200, allowed.text
        shown = [t for t in world.traces() if t in allowed.text]
        assert shown, f"{method} {path}: the list does not show its own clients either"
