"""A campaign whose template goes past a bound for one client only, end to end: started over
HTTP, fanned out by the product's worker, sent through the SendGrid sandbox. That client's
message fails with the reason, the others are delivered, and the worker goes on to what comes
next. (The practice has a BAA with SendGrid here, so a template may use the client's name.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from proirp.clients.models import Client
from proirp.comms.models import Communication, Template
from tests.comms.conftest import wait_for_status
from tests.live import LiveStack, live_stack, wait_until

# Nine million loop iterations for Blake: minutes of a worker's time without bounds.
STUCK_ON_BLAKE = (
    "{% if client.first_name == 'Blake' %}{% for a in range(3000) %}{% for b in range(3000) %}"
    "{% endfor %}{% endfor %}{% endif %}Hello {{ client.first_name }}, from {{ practice.name }}."
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings = {"SENDGRID_HIPAA_ENABLED": "true"}
    with live_stack(Path(tmp_path_factory.mktemp("limits")), settings=settings) as stack:
        yield stack


def _clients(live: LiveStack, names: list[str]) -> list[str]:
    with live.session() as session:
        rows = [
            Client(
                first_name=name,
                last_name="Quinn",
                email=f"{name.lower()}@limits.example.com",
                timezone="America/Chicago",
                email_consent=True,
            )
            for name in names
        ]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def _template(live: LiveStack, name: str, body: str) -> str:
    with live.session() as session:
        template = Template(
            name=name,
            channel="email",
            subject="From {{ practice.name }}",
            body=body,
            variables=[
                {"name": "client.first_name", "phi": True},
                {"name": "practice.name", "phi": False},
            ],
        )
        session.add(template)
        session.commit()
        return template.id


def _statuses(live: LiveStack, campaign_id: str) -> dict[str, Communication]:
    with live.session() as session:
        stmt = (
            select(Client.first_name, Communication)
            .join(Client, Client.id == Communication.client_id)
            .where(Communication.campaign_id == campaign_id)
        )
        return {name: comm for name, comm in session.execute(stmt)}


def test_a_campaign_fails_only_the_message_that_cannot_render_and_the_worker_goes_on(
    live: LiveStack,
) -> None:
    avery, blake, casey = _clients(live, ["Avery", "Blake", "Casey"])
    template_id = _template(live, "stuck-on-blake", STUCK_ON_BLAKE)
    started = time.monotonic()
    with live.api() as api:
        response = api.post(
            "/comms/bulk",
            json={"type": "email", "client_ids": [avery, blake, casey], "template_id": template_id},
        )
    assert response.status_code == 202, response.text
    campaign_id = response.json()["campaign"]["id"]

    def settled() -> bool:
        statuses = {name: m.status for name, m in _statuses(live, campaign_id).items()}
        return statuses == {"Avery": "delivered", "Blake": "failed", "Casey": "delivered"}

    assert wait_until(settled, timeout=60, interval=0.25), _statuses(live, campaign_id)
    blake_message = _statuses(live, campaign_id)["Blake"]
    assert blake_message.status_reason == (
        "The template's body could not be rendered: "
        "it goes past the limit of 10,000 loop iterations (line 1)."
    )
    assert sorted(copy["to"] for copy in live.email_ledger()) == [
        "avery@limits.example.com",
        "casey@limits.example.com",
    ]

    # The worker is free: the next message goes out at once.
    plain = _template(live, "plain", "Hello {{ client.first_name }}, from {{ practice.name }}.")
    with live.api() as api:
        sent = api.post("/comms", json={"type": "email", "client_id": blake, "template_id": plain})
    assert sent.status_code == 202, sent.text
    wait_for_status(live, sent.json()["communication"]["id"], {"delivered"})
    assert time.monotonic() - started < 60
