"""update_event and delete_event through the product's own adapters (googleapiclient; Graph over
requests) against the sandbox's Google and Microsoft over real HTTP(S): changes with If-Match,
a stale etag, an unknown event, and a weekly series whose instances move and cancel alone, as
an incremental list_changes reports them. Nothing is patched in-process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from proirp.integrations.calendar import (
    CalendarProvider,
    EventChange,
    EventChangedAtProvider,
    EventNotAtProvider,
    ProviderEvent,
)
from proirp.integrations.google.adapter import GoogleCalendar
from proirp.integrations.microsoft.adapter import MicrosoftCalendar
from proirp.sandbox.app import create_sandbox_app
from proirp.sandbox.microsoft.events import new_event_id
from proirp.sandbox.tls import SandboxCertificate, ensure_certificate
from tests.sandbox.conftest import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    RunningGoogle,
    RunningMicrosoft,
    google_config,
    microsoft_config,
    serve,
)

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
WINDOW = (START - timedelta(days=7), START + timedelta(days=60))


@dataclass
class Provider:
    """One vendor's adapter, a token for the sandbox's clinician, and its control routes."""

    name: str
    adapter: CalendarProvider
    token: str
    account: str
    running: RunningGoogle | RunningMicrosoft

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        answer = self.running.control(method, path, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer

    def seed_one(self) -> str:
        made = self.control(
            "POST", "events", json={"account": self.account, "count": 1, "start": START.isoformat()}
        )
        return str(made.json()["ids"][0])

    def full(self) -> tuple[dict[str, ProviderEvent], str]:
        changes = self.adapter.list_changes(
            self.token, sync_token=None, time_min=WINDOW[0], time_max=WINDOW[1]
        )
        assert changes.next_sync_token
        return {e.id: e for e in changes.events}, changes.next_sync_token

    def since(self, sync_token: str) -> dict[str, ProviderEvent]:
        changes = self.adapter.list_changes(
            self.token, sync_token=sync_token, time_min=WINDOW[0], time_max=WINDOW[1]
        )
        return {e.id: e for e in changes.events}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SandboxCertificate:
    return ensure_certificate(tmp_path_factory.mktemp("provider-changes-tls"))


@pytest.fixture(scope="module")
def google_sandbox() -> Iterator[RunningGoogle]:
    config = google_config()
    app = create_sandbox_app(config)
    with serve(app) as root:
        yield RunningGoogle(config, app.state.google, root)


@pytest.fixture(scope="module")
def microsoft_sandbox(certificate: SandboxCertificate) -> Iterator[RunningMicrosoft]:
    config = microsoft_config()
    app = create_sandbox_app(config)
    with serve(app, certificate=certificate) as root:
        running = RunningMicrosoft(config, app.state.microsoft, root, certificate)
        yield running
        running.session.close()


def _google(running: RunningGoogle) -> Provider:
    running.state.reset()
    adapter = GoogleCalendar(
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        oauth_base=running.oauth_base,
        api_base=running.api_base,
    )
    token = str(
        running.connect(scope="https://www.googleapis.com/auth/calendar.events")["access_token"]
    )
    return Provider("google", adapter, token, "clinician@sandbox.example.com", running)


def _microsoft(running: RunningMicrosoft) -> Provider:
    running.state.reset()
    adapter = MicrosoftCalendar(
        client_id=MICROSOFT_CLIENT_ID,
        client_secret=MICROSOFT_CLIENT_SECRET,
        authority=running.authority,
        graph_base=running.graph_base,
        ca_bundle=running.certificate.ca_path,
    )
    token = str(running.connect()["access_token"])
    return Provider("microsoft", adapter, token, "clinician@lakeside.onmicrosoft.com", running)


@pytest.fixture(params=["google", "microsoft"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    if request.param == "google":
        found = _google(request.getfixturevalue("google_sandbox"))
    else:
        found = _microsoft(request.getfixturevalue("microsoft_sandbox"))
    yield found
    found.adapter.close()


def test_an_update_changes_what_is_asked_and_answers_a_new_etag(provider: Provider) -> None:
    event_id = provider.seed_one()
    before = provider.full()[0][event_id]
    moved_to = START + timedelta(days=1, hours=2)
    change = EventChange(
        title="Follow-up",
        description="Bring the forms",
        location="Room 2",
        start_at=moved_to,
        end_at=moved_to + timedelta(minutes=45),
        time_zone="America/Chicago",
    )
    after = provider.adapter.update_event(provider.token, event_id, change, etag=before.etag)
    assert (after.id, after.title, after.description, after.location) == (
        event_id,
        "Follow-up",
        "Bring the forms",
        "Room 2",
    )
    assert (after.start_at, after.end_at) == (moved_to, moved_to + timedelta(minutes=45))
    assert after.etag and after.etag != before.etag
    assert after.updated_at and before.updated_at and after.updated_at >= before.updated_at
    # "" clears a text; what is not named stays as it is.
    cleared = provider.adapter.update_event(
        provider.token, event_id, EventChange(description="", location=""), etag=after.etag
    )
    assert (cleared.title, cleared.description, cleared.location) == ("Follow-up", None, None)
    assert cleared.start_at == moved_to
    assert provider.full()[0][event_id].etag == cleared.etag


def test_a_delete_is_reported_cancelled_and_a_second_one_finds_nothing(provider: Provider) -> None:
    event_id = provider.seed_one()
    events, sync_token = provider.full()
    provider.adapter.delete_event(provider.token, event_id, etag=events[event_id].etag)
    assert provider.since(sync_token)[event_id].status == "cancelled"
    assert event_id not in provider.full()[0]
    with pytest.raises(EventNotAtProvider):
        provider.adapter.delete_event(provider.token, event_id, etag=None)


def test_a_stale_etag_changes_nothing(provider: Provider) -> None:
    event_id = provider.seed_one()
    stale = provider.full()[0][event_id]
    touched = provider.control("POST", f"events/{event_id}/touch").json()
    new_etag = touched.get("etag") or touched.get("@odata.etag")
    assert new_etag and new_etag != stale.etag  # someone else changed it meanwhile
    with pytest.raises(EventChangedAtProvider) as refused:
        provider.adapter.update_event(
            provider.token, event_id, EventChange(title="Mine"), etag=stale.etag
        )
    assert refused.value.code in ("412", "ErrorIrresolvableConflict")
    with pytest.raises(EventChangedAtProvider):
        provider.adapter.delete_event(provider.token, event_id, etag=stale.etag)
    now = provider.full()[0][event_id]
    assert (now.title, now.status, now.etag) == (stale.title, stale.status, new_etag)
    # With the etag as it now is, the same change goes through.
    done = provider.adapter.update_event(
        provider.token, event_id, EventChange(title="Mine"), etag=now.etag
    )
    assert done.title == "Mine"


def test_an_unknown_event_is_not_at_the_provider(provider: Provider) -> None:
    unknown = "nothere0000" if provider.name == "google" else new_event_id()
    with pytest.raises(EventNotAtProvider):
        provider.adapter.update_event(provider.token, unknown, EventChange(title="x"), etag=None)
    with pytest.raises(EventNotAtProvider):
        provider.adapter.delete_event(provider.token, unknown, etag='"1"')


def test_a_series_lists_as_instances_that_move_and_cancel_alone(provider: Provider) -> None:
    made = provider.control(
        "POST", "series", json={"account": provider.account, "start": START.isoformat(), "count": 4}
    ).json()
    series_id, ids = made["series_id"], made["ids"]
    events, sync_token = provider.full()
    assert set(events) == set(ids)  # the instances, never the series itself
    starts = [START + timedelta(weeks=n) for n in range(4)]
    assert [events[i].start_at for i in ids] == starts
    assert all(events[i].series_id == series_id for i in ids)
    assert [events[i].original_start_at for i in ids] == starts
    if provider.name == "google":
        assert ids[1] == f"{series_id}_{starts[1].strftime('%Y%m%dT%H%M%SZ')}"
    # On the provider's side: one instance moved a day later, one cancelled.
    later = starts[1] + timedelta(days=1)
    provider.control(
        "POST",
        f"events/{ids[1]}/move",
        json={"start": later.isoformat(), "end": (later + timedelta(minutes=50)).isoformat()},
    )
    provider.control("DELETE", f"events/{ids[2]}")
    changed = provider.since(sync_token)
    assert set(changed) == {ids[1], ids[2]}
    assert changed[ids[1]].start_at == later and changed[ids[1]].status == "confirmed"
    assert changed[ids[2]].status == "cancelled"
    remaining, sync_token = provider.full()
    assert set(remaining) == {ids[0], ids[1], ids[3]}
    assert remaining[ids[3]].start_at == starts[3]
    # Through the adapter: the first instance moved, the last one cancelled, each with its etag.
    earlier = starts[0] - timedelta(hours=1)
    moved = provider.adapter.update_event(
        provider.token,
        ids[0],
        EventChange(start_at=earlier, end_at=earlier + timedelta(minutes=50), time_zone="UTC"),
        etag=remaining[ids[0]].etag,
    )
    assert (moved.start_at, moved.series_id) == (earlier, series_id)
    provider.adapter.delete_event(provider.token, ids[3], etag=remaining[ids[3]].etag)
    changed = provider.since(sync_token)
    assert set(changed) == {ids[0], ids[3]}
    assert changed[ids[0]].start_at == earlier and changed[ids[3]].status == "cancelled"
    assert set(provider.full()[0]) == {ids[0], ids[1]}


def test_an_update_throttled_by_outlook_is_sent_again_after_retry_after(
    microsoft_sandbox: RunningMicrosoft,
) -> None:
    provider = _microsoft(microsoft_sandbox)
    event_id = provider.seed_one()
    etag = provider.full()[0][event_id].etag
    provider.control("POST", "config", json={"throttle_next": 1, "retry_after_seconds": 1})
    done = provider.adapter.update_event(
        provider.token, event_id, EventChange(title="Late"), etag=etag
    )
    assert done.title == "Late"
    assert microsoft_sandbox.state.stats()["throttled"] == 1
    provider.adapter.close()
