"""What every calendar provider must do the same way, end to end against the sandbox: refusals in
the OAuth dance, events with a client link, one refresh for many requests, a withdrawn grant, an
outage, and who sees what. Provider-specific behaviour is in test_google_live.py and
test_microsoft_live.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from proirp.calendars.models import CalendarIntegration
from proirp.calendars.sync import sync_integration
from tests.calendars.dance import (
    audits,
    cached,
    connect,
    consent,
    event_body,
    expire_access_tokens,
    integrations,
    new_client,
    new_user,
    next_days,
    query_of,
    wait_for_sync,
)
from tests.calendars.sides import SIDES, Side
from tests.conftest import make_settings
from tests.live import LiveStack

CONCURRENT = 50


@pytest.fixture(params=SIDES, ids=lambda side: side.provider)
def side(request: pytest.FixtureRequest) -> Side:
    chosen: Side = request.param
    return chosen


def _connected(live: LiveStack, side: Side) -> str:
    token = new_user(live)
    answer = connect(live, token, provider=side.provider)
    assert query_of(answer.headers["location"])["outcome"] == "connected"
    wait_for_sync(live, token)  # the first sync's own token use is over
    return token


def test_deny_leaves_nothing_connected_and_is_audited(live: LiveStack, side: Side) -> None:
    token = new_user(live)
    with live.api(token) as api:
        auth_url = api.get(f"/calendar/{side.provider}/connect").json()["authUrl"]
        back = consent(auth_url, decision="deny", account=side.account)
        assert query_of(back)["error"] == "access_denied"
        answer = api.get(back)
    assert query_of(answer.headers["location"])["outcome"] == "denied"
    assert integrations(live, token) == []
    assert any(
        (a["provider"], a["reason"]) == (side.provider, "the user denied access")
        for a in audits(live, "CALENDAR_AUTH_FAILED")
    )


def test_a_forged_state_is_refused(live: LiveStack, side: Side) -> None:
    token = new_user(live)
    with live.api(token) as api:
        auth_url = api.get(f"/calendar/{side.provider}/connect").json()["authUrl"]
        code = query_of(consent(auth_url, account=side.account))["code"]
        forged = api.get(
            f"/calendar/{side.provider}/callback", params={"code": code, "state": "forged"}
        )
    assert forged.status_code == 303
    assert query_of(forged.headers["location"])["outcome"] == "refused"
    assert any(
        "not one this server issued" in a["reason"] for a in audits(live, "CALENDAR_AUTH_FAILED")
    )
    assert integrations(live, token) == []


def test_a_replayed_callback_and_a_reused_code_are_refused(live: LiveStack, side: Side) -> None:
    token = new_user(live)
    with live.api(token) as api:
        auth_url = api.get(f"/calendar/{side.provider}/connect").json()["authUrl"]
        back = consent(auth_url, account=side.account)
        assert api.get(back).status_code == 303
        replay = api.get(back)  # the same state again
        assert replay.status_code == 303
        assert query_of(replay.headers["location"])["outcome"] == "refused"
        assert any("already used" in a["reason"] for a in audits(live, "CALENDAR_AUTH_FAILED"))
        # The same code under a fresh state: the provider refuses a code already redeemed.
        fresh = query_of(api.get(f"/calendar/{side.provider}/connect").json()["authUrl"])["state"]
        reused = api.get(
            f"/calendar/{side.provider}/callback",
            params={"code": query_of(back)["code"], "state": fresh},
        )
    assert query_of(reused.headers["location"])["outcome"] == "failed"
    assert any(
        a["provider"] == side.provider and side.refused_code in a["reason"]
        for a in audits(live, "CALENDAR_AUTH_FAILED")
    )


def test_a_code_redeemed_with_another_verifier_fails_pkce(live: LiveStack, side: Side) -> None:
    token = new_user(live)
    with live.api(token) as api:
        first = api.get(f"/calendar/{side.provider}/connect").json()["authUrl"]
        second = api.get(f"/calendar/{side.provider}/connect").json()["authUrl"]
        code = query_of(consent(first, account=side.account))["code"]
        other_state = query_of(second)["state"]  # its verifier does not match the first challenge
        answer = api.get(
            f"/calendar/{side.provider}/callback", params={"code": code, "state": other_state}
        )
    assert query_of(answer.headers["location"])["outcome"] == "failed"
    assert integrations(live, token) == []


def test_create_links_a_client_and_lists_it_from_the_cache(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    with live.api(token) as api:
        created = api.post("/calendar/events", json=event_body(side.provider, client_id=client_id))
        assert created.status_code == 201, created.text
        event = created.json()["event"]
        listed = api.get("/calendar/events", params=next_days(7)).json()["events"]
    assert [(e["id"], e["provider"], e["title"], e["client_id"]) for e in listed] == [
        (event["id"], side.provider, "Intake session", client_id)
    ]
    assert audits(live, "CALENDAR_EVENT_CREATED")[-1]["event_id"] == event["id"]


def test_fifty_concurrent_requests_share_one_refresh(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    newest = select(CalendarIntegration.id).order_by(CalendarIntegration.created_at.desc())
    with live.session() as session:
        integration_id = session.scalars(newest).first()
    expire_access_tokens(live, integration_id)  # this calendar's only: others may sync meanwhile
    before = side.refreshes(live)

    def create(_: int) -> int:
        with live.api(token) as api:  # a connection each, as separate browsers would have
            return api.post("/calendar/events", json=event_body(side.provider)).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(pool.map(create, range(CONCURRENT)))
    assert answers == [201] * CONCURRENT
    assert side.refreshes(live) - before == 1


def test_a_withdrawn_grant_needs_reauth_and_says_so(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    with side.control(live) as control:
        control.post("/revoke", json={"account": side.account}).raise_for_status()
    expire_access_tokens(live)
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=event_body(side.provider))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "calendar_needs_reauth"
    [row] = integrations(live, token)
    assert row["status"] == "needs_reauth" and "connect" in str(row["message"])
    assert any(side.refused_grant in a["reason"] for a in audits(live, "CALENDAR_AUTH_FAILED"))


def test_an_outage_is_a_503_to_retry_not_a_refusal(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    with side.control(live) as control:
        control.post("/config", json={"fail_next": 1, "fail_status": 500}).raise_for_status()
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=event_body(side.provider))
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "calendar_unavailable"
        assert api.post("/calendar/events", json=event_body(side.provider)).status_code == 201


def test_users_see_only_their_own_calendars(live: LiveStack, side: Side) -> None:
    alice, bob, admin = new_user(live), new_user(live), new_user(live, role="admin")
    connect(live, alice, provider=side.provider)
    with live.api(alice) as api:
        api.post("/calendar/events", json=event_body(side.provider)).raise_for_status()
        alice_id = api.get("/auth/me").json()["user"]["id"]
    window = next_days(7)
    with live.api(bob) as api:
        assert api.get("/calendar/events", params=window).json()["events"] == []
        assert api.delete(f"/calendar/integrations/{side.provider}").status_code == 404
        assert api.post(f"/calendar/integrations/{side.provider}/sync").status_code == 404
        assert api.get("/calendar/integrations", params={"user_id": alice_id}).status_code == 403
    with live.api(admin) as api:
        seen = api.get("/calendar/integrations", params={"user_id": alice_id}).json()
        assert [i["provider"] for i in seen["integrations"]] == [side.provider]
        assert api.get("/calendar/events", params=window).json()["events"] == []
    with live.api(alice) as api:
        assert len(api.get("/calendar/events", params=window).json()["events"]) == 1


def test_reconnecting_replaces_the_cache_with_what_the_provider_holds(
    live: LiveStack, side: Side
) -> None:
    token = _connected(live, side)
    with live.api(token) as api:
        made = api.post("/calendar/events", json=event_body(side.provider)).json()["event"]
    with side.control(live) as control:  # gone at the provider, while we were not looking
        control.delete(f"/events/{made['provider_event_id']}").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    connect(live, token, provider=side.provider)  # a new grant starts with a full sync
    wait_for_sync(live, token, after=last)
    assert cached(live, token) == 0


def _only_the_newest_calendar_syncs(live: LiveStack) -> None:
    """Earlier tests' calendars wait for a new consent: a change the provider pushes to them
    (they share its mailbox) must not refresh their tokens while a test counts refreshes."""
    newest = select(CalendarIntegration.id).order_by(CalendarIntegration.created_at.desc())
    with live.session() as session:
        mine = session.scalars(newest).first()
        session.execute(
            update(CalendarIntegration)
            .where(CalendarIntegration.id != mine)
            .values(status="needs_reauth")
        )
        session.commit()


def test_a_refused_access_token_is_refreshed_once_then_used(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    _only_the_newest_calendar_syncs(live)
    with side.control(live) as control:  # the provider forgets every access token it issued
        control.post("/expire-access-tokens").raise_for_status()
    before = side.refreshes(live)
    with live.api(token) as api:
        assert api.post("/calendar/events", json=event_body(side.provider)).status_code == 201
    assert side.refreshes(live) - before == 1
    with side.control(live) as control:
        control.post("/revoke", json={"account": side.account}).raise_for_status()
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=event_body(side.provider))
    assert answer.status_code == 409  # the refresh found the grant withdrawn
    assert integrations(live, token)[0]["status"] == "needs_reauth"


def test_a_sync_of_a_calendar_disconnected_meanwhile_does_nothing(live: LiveStack) -> None:
    settings = make_settings(live.tmp, database_url=live.database_url)
    factory = sessionmaker(live.engine, expire_on_commit=False)
    assert sync_integration(factory, settings, "no-such-integration") is None
