"""A live stack (sandbox + product processes) shared by the end-to-end SMS tests of a module; a
clock the tests set; what the sweeper would queue; a member of staff and a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.clients.models import Client
from proirp.comms import tasks as sweeper
from proirp.comms.models import Communication
from proirp.kit.time import Clock, set_clock, utcnow
from tests.factories import Staff, create_client, create_staff
from tests.live import LiveStack, live_stack, wait_until

FINAL = {"delivered", "undelivered", "failed", "blocked"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("live")) as stack:
        yield stack


@pytest.fixture
def staff(db: Session) -> Staff:
    """A member of the front desk (the `staff` role), signed in to the API."""
    return create_staff(db, role="staff")


@pytest.fixture
def client(db: Session) -> Client:
    """A client who agreed to SMS (a module may define its own)."""
    row = create_client(db, phone="+12025550143")
    row.sms_consent = True
    db.flush()
    return row


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The product's clock, stopped at now until the test advances it."""
    with set_clock(utcnow()) as clock:
        yield clock


@pytest.fixture
def swept(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """What the sweeper sends to the queue, instead of sending it."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(sweeper, "enqueue", lambda name, *args, **_: sent.append((name, args)))
    return sent


@pytest.fixture(autouse=True)
def _fresh_sandbox(request: pytest.FixtureRequest) -> None:
    if "live" in request.fixturenames:
        live: LiveStack = request.getfixturevalue("live")
        with live.sandbox() as sandbox:
            sandbox.post("/_sandbox/reset").raise_for_status()
        with live.sendgrid() as sendgrid:
            sendgrid.post("/_sandbox/reset").raise_for_status()


def add_email_clients(live: LiveStack, count: int, *, domain: str = "example.com") -> list[str]:
    """`count` clients who agreed to email, at distinct addresses, in one insert."""
    rows = [
        Client(
            first_name="Avery",
            last_name="Quinn",
            email=f"client{index}@{domain}",
            timezone="America/Chicago",
            email_consent=True,
        )
        for index in range(count)
    ]
    with live.session() as session:
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def add_client(live: LiveStack, phone: str, *, consent: bool = True, **fields: Any) -> str:
    with live.session() as session:
        client = Client(
            first_name=fields.get("first_name", "Avery"),
            last_name=fields.get("last_name", "Quinn"),
            phone=phone,
            timezone="America/Chicago",
            sms_consent=consent,
        )
        session.add(client)
        session.commit()
        return client.id


def send(live: LiveStack, client_id: str, body: str = "Please call our office.") -> httpx.Response:
    with live.api() as api:
        return api.post("/comms", json={"type": "sms", "client_id": client_id, "body": body})


def communication(live: LiveStack, comm_id: str) -> dict[str, Any]:
    with live.api() as api:
        found: dict[str, Any] = api.get(f"/comms/{comm_id}").json()["communication"]
        return found


def wait_for_status(
    live: LiveStack, comm_id: str, statuses: set[str], timeout: float = 20
) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    def reached() -> bool:
        latest.update(communication(live, comm_id))
        return latest["status"] in statuses

    assert wait_until(reached, timeout=timeout, interval=0.2), f"stuck at {latest.get('status')}"
    return latest


def rows_for(live: LiveStack, **where: Any) -> list[Communication]:
    with live.session() as session:
        stmt = select(Communication).filter_by(**where)
        return list(session.scalars(stmt))
