"""The route-by-role matrix: which roles may call each route the app serves.

A route missing from these tables fails `test_tables_cover_exactly_the_routes_the_app_serves`, so a
new route cannot ship without someone deciding who may call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.auth.models import Role
from proirp.auth.secrets import csrf_for
from tests.factories import PASSWORD, create_client, create_staff, create_user

ADMIN, CLINICIAN, STAFF = Role.ADMIN.value, Role.CLINICIAN.value, Role.STAFF.value
ALL_ROLES = frozenset({ADMIN, CLINICIAN, STAFF})
ADMIN_ONLY = frozenset({ADMIN})

# (method, path) -> the roles allowed. Every other role must get 403.
PROTECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/auth/logout"): ALL_ROLES,
    ("GET", "/auth/me"): ALL_ROLES,
    ("GET", "/clients"): ALL_ROLES,
    ("POST", "/clients"): ALL_ROLES,
    ("GET", "/clients/{client_id}"): ALL_ROLES,
    ("PATCH", "/clients/{client_id}"): ALL_ROLES,
    ("DELETE", "/clients/{client_id}"): ADMIN_ONLY,
    ("GET", "/audit-logs"): ADMIN_ONLY,
    ("POST", "/audit-logs/verify"): ADMIN_ONLY,
    ("POST", "/comms"): ALL_ROLES,
    ("GET", "/comms"): ALL_ROLES,
    ("GET", "/comms/{comm_id}"): ALL_ROLES,
    # A clinician's campaign is for their care team (tests/test_ownership.py).
    ("POST", "/comms/bulk"): ALL_ROLES,
    ("GET", "/campaigns/{campaign_id}"): ALL_ROLES,
    # Cancelling takes the role that sending does.
    ("POST", "/comms/{comm_id}/cancel"): ALL_ROLES,
    ("GET", "/campaigns"): ALL_ROLES,
    ("POST", "/campaigns/{campaign_id}/cancel"): ALL_ROLES,
    ("GET", "/templates"): ALL_ROLES,
    ("GET", "/templates/{template_id}"): ALL_ROLES,
    # Editing templates is front-desk and admin work, as campaigns are.
    ("POST", "/templates"): frozenset({ADMIN, STAFF}),
    ("PATCH", "/templates/{template_id}"): frozenset({ADMIN, STAFF}),
    ("DELETE", "/templates/{template_id}"): frozenset({ADMIN, STAFF}),
    # Calendars: everyone manages their own; the routes never reach another user's calendar.
    ("GET", "/calendar/integrations"): ALL_ROLES,
    ("DELETE", "/calendar/integrations/{provider}"): ALL_ROLES,
    ("POST", "/calendar/integrations/{provider}/sync"): ALL_ROLES,
    ("GET", "/calendar/events"): ALL_ROLES,
    ("POST", "/calendar/events"): ALL_ROLES,
    ("PATCH", "/calendar/events/{event_id}"): ALL_ROLES,
    ("DELETE", "/calendar/events/{event_id}"): ALL_ROLES,
    ("POST", "/calendar/events/{event_id}/link"): ALL_ROLES,
    ("DELETE", "/calendar/events/{event_id}/link"): ALL_ROLES,
    ("GET", "/calendar/sync-status"): ALL_ROLES,
    ("GET", "/calendar/{provider}/connect"): ALL_ROLES,
    ("GET", "/calendar/{provider}/callback"): ALL_ROLES,
    # Appointments: any staff reads and changes one; only admins set the reminder rules.
    ("GET", "/clients/{client_id}/appointments"): ALL_ROLES,
    ("PATCH", "/appointments/{appointment_id}"): ALL_ROLES,
    ("GET", "/reminders/rules"): frozenset({ADMIN}),
    ("PUT", "/reminders/rules"): frozenset({ADMIN}),
    # The inbox: every role that sees clients reads and answers their messages (read state is
    # each user's own); only admins set office hours, the replies and the on-call address.
    ("GET", "/clients/{client_id}/messages"): ALL_ROLES,
    ("GET", "/inbox"): ALL_ROLES,
    ("GET", "/inbox/unmatched"): ALL_ROLES,
    ("POST", "/inbox/{message_id}/read"): ALL_ROLES,
    ("POST", "/inbox/{message_id}/attach"): ALL_ROLES,
    ("GET", "/comms/{comm_id}/media/{media_id}"): ALL_ROLES,
    ("GET", "/inbox/settings"): frozenset({ADMIN}),
    ("PUT", "/inbox/settings"): frozenset({ADMIN}),
    # The staff lifecycle: only admins manage accounts; everyone may end their own sessions.
    ("GET", "/users"): ADMIN_ONLY,
    ("POST", "/users/{user_id}/disable"): ADMIN_ONLY,
    ("POST", "/users/{user_id}/enable"): ADMIN_ONLY,
    ("POST", "/users/{user_id}/role"): ADMIN_ONLY,
    ("POST", "/users/{user_id}/password-reset"): ADMIN_ONLY,
    ("POST", "/auth/logout-everywhere"): ALL_ROLES,
    # Two-step sign-in: everyone enrols and keeps their own (an account held to enrolling may
    # call the first three, and /auth/me and /auth/logout; tests/auth/test_mfa_gate.py); only
    # admins reset another user's.
    ("GET", "/auth/mfa"): ALL_ROLES,
    ("POST", "/auth/mfa/enrolment"): ALL_ROLES,
    ("POST", "/auth/mfa/enrolment/confirm"): ALL_ROLES,
    ("POST", "/auth/mfa/recovery-codes"): ALL_ROLES,
    ("POST", "/users/{user_id}/mfa/reset"): ADMIN_ONLY,
    # Care teams: anyone who may see the client reads its team; admins and front desk set it.
    ("GET", "/clients/{client_id}/care-team"): ALL_ROLES,
    ("PUT", "/clients/{client_id}/care-team"): frozenset({ADMIN, STAFF}),
    # Break-glass: a clinician opens it (admins and front desk see every client already);
    # admins review every grant, a clinician lists their own.
    ("POST", "/break-glass"): frozenset({CLINICIAN}),
    ("GET", "/break-glass"): frozenset({ADMIN, CLINICIAN}),
    ("POST", "/break-glass/{grant_id}/review"): ADMIN_ONLY,
}

# The staff UI's pages (web/): signed in with the session cookie; a form also carries the CSRF
# token. Without a session a page sends the browser to the sign-in page; a refused role sees a
# 403 page.
PAGES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/app/"): ALL_ROLES,
    ("POST", "/app/signout"): ALL_ROLES,
    # Sandbox mode: what would have been sent (every client's messages: for those who see every
    # client), and a made-up client text for the inbox.
    ("GET", "/app/sandbox"): frozenset({ADMIN, STAFF}),
    ("POST", "/app/sandbox/inbound"): frozenset({ADMIN, STAFF}),
    # Settings: everyone manages their own calendars; only admins set reminders and the inbox.
    ("GET", "/app/settings"): ALL_ROLES,
    ("GET", "/app/live/calendars"): ALL_ROLES,
    ("GET", "/app/settings/calendars/{provider}/connect"): ALL_ROLES,
    ("POST", "/app/settings/calendars/{provider}/sync"): ALL_ROLES,
    ("POST", "/app/settings/calendars/{provider}/disconnect"): ALL_ROLES,
    ("POST", "/app/settings/reminders"): ADMIN_ONLY,
    ("POST", "/app/settings/inbox"): ADMIN_ONLY,
    # Calendar: everyone's own week and appointments, as /calendar.
    ("GET", "/app/calendar"): ALL_ROLES,
    ("GET", "/app/calendar/new"): ALL_ROLES,
    ("POST", "/app/calendar/new"): ALL_ROLES,
    ("POST", "/app/calendar/events/{event_id}/move"): ALL_ROLES,
    ("POST", "/app/calendar/events/{event_id}/cancel"): ALL_ROLES,
    ("GET", "/app/calendar/events/{event_id}/link"): ALL_ROLES,
    ("POST", "/app/calendar/events/{event_id}/link"): ALL_ROLES,
    ("POST", "/app/calendar/events/{event_id}/unlink"): ALL_ROLES,
    # Clients and their messages: every role that sees clients, as the API's routes allow.
    ("GET", "/app/clients"): ALL_ROLES,
    ("POST", "/app/clients/search"): ALL_ROLES,
    ("GET", "/app/clients/new"): ALL_ROLES,
    ("POST", "/app/clients"): ALL_ROLES,
    ("GET", "/app/clients/{client_id}"): ALL_ROLES,
    ("POST", "/app/clients/{client_id}"): ALL_ROLES,
    ("GET", "/app/clients/{client_id}/messages"): ALL_ROLES,
    ("POST", "/app/clients/{client_id}/messages"): ALL_ROLES,
    ("GET", "/app/live/clients/{client_id}/thread"): ALL_ROLES,
    ("GET", "/app/inbox"): ALL_ROLES,
    ("POST", "/app/inbox/find"): ALL_ROLES,
    ("GET", "/app/inbox/find"): ALL_ROLES,
    ("GET", "/app/inbox/messages/{message_id}"): ALL_ROLES,
    ("GET", "/app/live/inbox"): ALL_ROLES,
    ("POST", "/app/inbox/{message_id}/attach"): ALL_ROLES,
    # Campaigns: as the API, every role (a clinician's for their care team, and their own).
    ("GET", "/app/campaigns"): ALL_ROLES,
    ("GET", "/app/campaigns/new"): ALL_ROLES,
    ("POST", "/app/campaigns/new"): ALL_ROLES,  # the search and the preview
    ("POST", "/app/campaigns"): ALL_ROLES,
    ("GET", "/app/campaigns/{campaign_id}"): ALL_ROLES,
    ("GET", "/app/live/campaigns/{campaign_id}"): ALL_ROLES,
    ("POST", "/app/campaigns/{campaign_id}/cancel"): ALL_ROLES,
    # Templates: every role reads them; editing takes the roles the API gives POST /templates.
    ("GET", "/app/templates"): ALL_ROLES,
    ("GET", "/app/templates/new"): frozenset({ADMIN, STAFF}),
    ("POST", "/app/templates"): frozenset({ADMIN, STAFF}),
    ("GET", "/app/templates/{template_id}"): ALL_ROLES,
    ("POST", "/app/templates/{template_id}"): frozenset({ADMIN, STAFF}),
    ("POST", "/app/templates/{template_id}/archive"): frozenset({ADMIN, STAFF}),
    # The audit log, as GET /audit-logs and POST /audit-logs/verify.
    ("GET", "/app/audit"): ADMIN_ONLY,
    ("POST", "/app/audit/verify"): ADMIN_ONLY,
    # Staff accounts, as /users; signing out everywhere, as /auth/logout-everywhere.
    ("GET", "/app/staff"): ADMIN_ONLY,
    ("POST", "/app/staff/{user_id}/disable"): ADMIN_ONLY,
    ("POST", "/app/staff/{user_id}/enable"): ADMIN_ONLY,
    ("POST", "/app/staff/{user_id}/role"): ADMIN_ONLY,
    ("POST", "/app/staff/{user_id}/password-reset"): ADMIN_ONLY,
    ("POST", "/app/staff/{user_id}/mfa-reset"): ADMIN_ONLY,
    ("POST", "/app/signout-everywhere"): ALL_ROLES,
    # Two-step sign-in: everyone's own, as /auth/mfa.
    ("GET", "/app/mfa"): ALL_ROLES,
    ("POST", "/app/mfa/enrol"): ALL_ROLES,
    ("POST", "/app/mfa/confirm"): ALL_ROLES,
    ("POST", "/app/mfa/recovery-codes"): ALL_ROLES,
    # Care teams and break-glass, as the API's routes.
    ("POST", "/app/clients/{client_id}/care-team"): frozenset({ADMIN, STAFF}),
    ("GET", "/app/break-glass"): frozenset({ADMIN, CLINICIAN}),
    ("POST", "/app/break-glass"): frozenset({CLINICIAN}),
    ("POST", "/app/break-glass/{grant_id}/review"): ADMIN_ONLY,
}

# Routes anyone may call without signing in.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/"),  # opens onto the UI
        ("GET", "/app/signin"),
        ("POST", "/app/signin"),  # its form carries a token of its own (web/pages/signin.py)
        ("GET", "/healthz"),
        ("POST", "/auth/login"),
        # The reset link's token, in the body, is its only credential (auth/password_reset.py).
        ("POST", "/auth/password-reset"),
        # The code step of signing in: the challenge from the password step is its credential.
        ("POST", "/auth/login/mfa"),
        ("POST", "/app/signin/code"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
)

# Provider webhooks: no login, but each request must carry its provider's signature.
SIGNED_WEBHOOKS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/webhooks/twilio/status"),
        ("POST", "/webhooks/twilio/inbound"),
        ("POST", "/webhooks/sendgrid/events"),
    }
)

# Calendar push: no login, but each notification must name a channel the product made and carry
# its secret (Google's channel token, Graph's clientState; tests/calendars/test_push_webhooks.py).
CHANNEL_WEBHOOKS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/webhooks/google/calendar"),
        ("POST", "/webhooks/microsoft/calendar"),
        ("POST", "/webhooks/microsoft/calendar/lifecycle"),
    }
)

# Links in messages: no login; the sealed token in the path is the only credential.
TOKEN_LINKS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/unsubscribe/{token}"),
        ("POST", "/unsubscribe/{token}"),
        # A password reset link an admin handed to its person: works once, for an hour.
        ("GET", "/app/reset-password/{token}"),
        ("POST", "/app/reset-password/{token}"),
    }
)

# For the practice's monitoring, not for staff: a 404 unless METRICS_ENABLED, then for
# `Bearer <METRICS_TOKEN>` alone when that is set (no staff sign-in; tests/test_metrics.py).
MONITORING: frozenset[tuple[str, str]] = frozenset({("GET", "/metrics")})

# Mounted sub-applications, by path, with how each is protected.
MOUNTS: dict[str, str] = {
    "/sandbox": "the provider sandbox; mounted only when no real provider credentials are set",
    "/app/static": "the UI's own stylesheet and script: nothing secret, no data",
}


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, included routers flattened; ("*", path) for a mount."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        assert route.path is not None, f"a route without a path: {route!r}"
        if not route.methods:  # a mounted app or a websocket: all methods, its own guard
            routes.add(("*", route.path))
        for method in route.methods or ():
            # Starlette adds HEAD to every GET route; it shares the GET route's handler and guard.
            if method != "HEAD":
                routes.add((method, route.path))
    return routes


def test_tables_cover_exactly_the_routes_the_app_serves(app: FastAPI) -> None:
    served = served_routes(app)
    tables = [
        set(PROTECTED),
        set(PAGES),
        set(PUBLIC),
        set(SIGNED_WEBHOOKS),
        set(CHANNEL_WEBHOOKS),
        set(TOKEN_LINKS),
        set(MONITORING),
        {("*", p) for p in MOUNTS},
    ]
    listed = set().union(*tables)
    assert sum(map(len, tables)) == len(listed), "a route is listed in two tables"
    assert served - listed == set(), "routes with no entry in the route-by-role matrix"
    assert listed - served == set(), "matrix entries for routes the app does not serve"


class _PathIds(dict[str, str]):
    """Path parameters: the real client's id, and an id of nothing for any other parameter."""

    def __missing__(self, key: str) -> str:
        return "0" * 32


@dataclass(frozen=True)
class Call:
    method: str
    path: str

    def send(
        self, api: TestClient, client_id: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        url = self.path.format_map(_PathIds(client_id=client_id))
        # An empty object: a role that gets past the guard gets a 422 at most, and no work is
        # started (nothing queued, nothing sent) by checking the guard.
        body: dict[str, object] | None = {} if self.method in ("POST", "PATCH", "PUT") else None
        return api.request(self.method, url, headers=headers, json=body)


PROTECTED_CALLS = [pytest.param(Call(m, p), id=f"{m} {p}") for (m, p) in PROTECTED]
ROLE_CASES = [
    pytest.param(Call(m, p), role, role in allowed, id=f"{m} {p} as {role}")
    for (m, p), allowed in PROTECTED.items()
    for role in sorted(ALL_ROLES)
]


@pytest.mark.parametrize("call", PROTECTED_CALLS)
def test_protected_route_without_credentials_is_401(
    api: TestClient, db: Session, call: Call
) -> None:
    client = create_client(db)
    response = call.send(api, client.id)
    assert response.status_code == 401
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "not_authenticated"
    # RFC 6750: a request without credentials is told the scheme, and no error.
    assert response.headers["www-authenticate"] == 'Bearer realm="proirp"'


BAD_CREDENTIALS = {
    "unknown bearer token": {"Authorization": "Bearer pirp_not-a-token-we-issued"},
    "empty bearer token": {"Authorization": "Bearer "},
    "not a bearer scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    "unknown session cookie": {"Cookie": "proirp_session=pirp_forged; proirp_csrf=forged"},
}


@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize("call", PROTECTED_CALLS)
def test_protected_route_with_bad_credentials_is_401(
    api: TestClient, db: Session, call: Call, headers: dict[str, str]
) -> None:
    client = create_client(db)
    response = call.send(api, client.id, headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    # RFC 6750: a token we did not issue is invalid_token; a malformed header invalid_request.
    malformed = headers.get("Authorization", "x").strip() in ("Bearer", "Basic dXNlcjpwYXNz")
    error = "invalid_request" if malformed else "invalid_token"
    assert response.headers["www-authenticate"] == f'Bearer realm="proirp", error="{error}"'


@pytest.mark.parametrize(("call", "role", "allowed"), ROLE_CASES)
def test_each_role_gets_exactly_what_the_matrix_allows(
    api: TestClient, db: Session, call: Call, role: str, allowed: bool
) -> None:
    staff = create_staff(db, role=role)
    client = create_client(db)
    response = call.send(api, client.id, staff.headers)
    if allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden_role"


PAGE_CASES = [
    pytest.param(Call(m, p), role, role in allowed, id=f"{m} {p} as {role}")
    for (m, p), allowed in PAGES.items()
    for role in sorted(ALL_ROLES)
]


def _page_request(
    api: TestClient, call: Call, client_id: str, token: str | None, *, csrf: bool = True
) -> httpx.Response:
    url = call.path.format_map(_PathIds(client_id=client_id))
    data = None
    if token and call.method == "POST":
        data = {"csrf_token": csrf_for(token) if csrf else "x" * 64}
    api.cookies.clear()
    if token:
        api.cookies.set("proirp_session", token)
    try:
        return api.request(call.method, url, data=data, follow_redirects=False)
    finally:
        api.cookies.clear()


@pytest.mark.parametrize(
    "call", [pytest.param(Call(m, p), id=f"{m} {p}") for m, p in PAGES if m == "POST"]
)
def test_every_form_without_its_csrf_token_is_refused(
    api: TestClient, db: Session, call: Call
) -> None:
    allowed = PAGES[(call.method, call.path)]
    staff = create_staff(db, role=ADMIN if ADMIN in allowed else min(allowed))
    client = create_client(db)
    response = _page_request(api, call, client.id, staff.token, csrf=False)
    assert response.status_code == 403
    assert "This form has expired" in response.text


@pytest.mark.parametrize("call", [pytest.param(Call(m, p), id=f"{m} {p}") for m, p in PAGES])
def test_page_without_a_session_sends_the_browser_to_sign_in(
    api: TestClient, db: Session, call: Call
) -> None:
    client = create_client(db)
    response = _page_request(api, call, client.id, None)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/app/signin?next=")


@pytest.mark.parametrize(("call", "role", "allowed"), PAGE_CASES)
def test_each_role_sees_exactly_the_pages_the_matrix_allows(
    api: TestClient, db: Session, call: Call, role: str, allowed: bool
) -> None:
    staff = create_staff(db, role=role)
    client = create_client(db)
    response = _page_request(api, call, client.id, staff.token)
    if allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403
        assert "Your role may not" in response.text


def test_a_refused_role_changes_nothing(api: TestClient, db: Session) -> None:
    staff = create_staff(db, role=STAFF)
    client = create_client(db)
    db.commit()  # the set-up is kept even when the refused request rolls back
    response = api.delete(f"/clients/{client.id}", headers=staff.headers)
    assert response.status_code == 403
    db.refresh(client)
    assert client.deleted_at is None


@pytest.mark.parametrize(
    "path", sorted(p for m, p in PUBLIC if m == "GET"), ids=lambda path: f"GET {path}"
)
def test_public_pages_answer_without_credentials(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    sorted(SIGNED_WEBHOOKS),
    ids=[f"{m} {p}" for m, p in sorted(SIGNED_WEBHOOKS)],
)
def test_webhooks_need_no_login_but_refuse_an_unsigned_request(
    api: TestClient, method: str, path: str
) -> None:
    response = api.request(method, path, data={"MessageSid": "SM" + "0" * 32})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize(
    ("method", "path"),
    sorted(CHANNEL_WEBHOOKS),
    ids=[f"{m} {p}" for m, p in sorted(CHANNEL_WEBHOOKS)],
)
def test_push_webhooks_need_no_login_but_refuse_a_request_naming_no_channel(
    api: TestClient, method: str, path: str
) -> None:
    if "google" in path:
        headers = {
            "X-Goog-Channel-ID": "not-a-channel",
            "X-Goog-Resource-ID": "r",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "2",
        }
        response = api.request(method, path, headers=headers)
    else:
        item = {"subscriptionId": "not-a-subscription", "clientState": "x"}
        if path.endswith("lifecycle"):
            item["lifecycleEvent"] = "missed"
        response = api.request(method, path, json={"value": [item]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_channel"


@pytest.mark.parametrize(
    ("method", "path"), sorted(TOKEN_LINKS), ids=[f"{m} {p}" for m, p in sorted(TOKEN_LINKS)]
)
def test_token_links_refuse_a_token_that_is_not_ours(
    api: TestClient, method: str, path: str
) -> None:
    response = api.request(method, path.replace("{token}", "not-a-sealed-token"))
    assert response.status_code == 404


def test_login_answers_without_credentials(api: TestClient, db: Session) -> None:
    user = create_user(db)
    response = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["ok"] is True
