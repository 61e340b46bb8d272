"""A campaign whose template does not render for some clients (one saved before rendering was
bounded, or one that fails only with a client's own values): the worker's fan-out fails those
messages with the reason, audited, and goes on; the template never stops, loops or holds it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.clients.models import Client
from proirp.comms.campaigns.fan_out import fan_out
from proirp.comms.models import Campaign, Communication, Template
from proirp.config import Settings
from proirp.kit.db import new_id
from tests.comms.rows import own_database

SLOW_FOR_AVERY = (
    "{% if client.first_name == 'Avery' %}{% set big = 'x' * 500000 %}"
    "{% for i in range(10000) %}{{ big.count('xx') }}{% endfor %}{% endif %}"
)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(Path(tmp_path_factory.mktemp("render-failures"))) as made:
        yield made


@pytest.fixture
def baa(settings: Settings, monkeypatch: pytest.MonkeyPatch, app: FastAPI) -> Settings:
    # The worker's jobs are registered with the app; the clients' names may go to SendGrid.
    monkeypatch.setattr(settings, "sendgrid_hipaa_enabled", True)
    return settings


def _campaign(factory: sessionmaker[Session], body: str, names: list[str]) -> str:
    """A campaign written as POST /comms/bulk would, with a template written straight in."""
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        clients = [
            Client(
                first_name=name,
                last_name="Quinn",
                email=f"{name.lower()}.{new_id()}@example.com",
                timezone="America/Chicago",
                email_consent=True,
            )
            for name in names
        ]
        template = Template(
            name=f"t-{new_id()}",
            channel="email",
            subject="News",
            body=body,
            variables=[
                {"name": "client.first_name", "phi": True},
                {"name": "practice.name", "phi": False},
            ],
        )
        session.add_all([user, template, *clients])
        session.flush()
        campaign = Campaign(
            channel="email",
            created_by_user_id=user.id,
            template_id=template.id,
            body="",
            selection={"client_ids": [c.id for c in clients]},
            total=len(clients),
        )
        session.add(campaign)
        session.commit()
        return campaign.id


def _fan_out(factory: sessionmaker[Session], settings: Settings, campaign_id: str) -> float:
    started = time.process_time()
    fan_out(factory, settings, campaign_id)
    return time.process_time() - started


def _messages(factory: sessionmaker[Session], campaign_id: str) -> dict[str, Communication]:
    with factory() as session:
        stmt = (
            select(Client.first_name, Communication)
            .join(Client, Client.id == Communication.client_id)
            .where(Communication.campaign_id == campaign_id)
        )
        return {name: comm for name, comm in session.execute(stmt)}


def _fanned_out(factory: sessionmaker[Session], campaign_id: str) -> bool:
    with factory() as session:
        campaign = session.get(Campaign, campaign_id)
        return campaign is not None and campaign.fanned_out_at is not None


def test_a_template_that_fails_for_one_client_fails_that_message_only(
    factory: sessionmaker[Session], baa: Settings
) -> None:
    body = (
        "{% if client.first_name == 'Blake' %}{% for a in range(3000) %}{% for b in range(3000) %}"
        "{% endfor %}{% endfor %}{% endif %}Hello from {{ practice.name }}."
    )
    campaign_id = _campaign(factory, body, ["Avery", "Blake", "Casey"])
    assert _fan_out(factory, baa, campaign_id) < 1.0
    messages = _messages(factory, campaign_id)
    assert {name: m.status for name, m in messages.items()} == {
        "Avery": "queued",
        "Blake": "failed",
        "Casey": "queued",
    }
    assert messages["Blake"].status_reason == (
        "The template's body could not be rendered: "
        "it goes past the limit of 10,000 loop iterations (line 1)."
    )
    assert messages["Avery"].body == "Hello from Pro IRP."
    assert _fanned_out(factory, campaign_id)
    with factory() as session:
        audit = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "EMAIL_FAILED", AuditLog.client_id == messages["Blake"].client_id
            )
        ).one()
    assert audit.details == {"communication_id": messages["Blake"].id, "campaign_id": campaign_id}


def test_a_template_that_renders_for_nobody_fails_every_message(
    factory: sessionmaker[Session], baa: Settings
) -> None:
    campaign_id = _campaign(factory, "{{ practice.name }} {{ 1/0 }}", ["Avery", "Blake"])
    assert _fan_out(factory, baa, campaign_id) < 1.0
    messages = _messages(factory, campaign_id)
    assert {m.status for m in messages.values()} == {"failed"}
    for message in messages.values():
        assert message.status_reason == (
            "The template's body could not be rendered: it divides by zero (line 1)."
        )
    assert _fanned_out(factory, campaign_id)


def test_a_template_too_slow_for_one_client_is_not_rendered_again(
    factory: sessionmaker[Session], baa: Settings
) -> None:
    campaign_id = _campaign(factory, SLOW_FOR_AVERY + "Hello", ["Avery", "Blake", "Casey"])
    # One render up to the time limit (0.5 s of CPU), not one per client.
    assert _fan_out(factory, baa, campaign_id) < 1.2
    messages = _messages(factory, campaign_id)
    assert {m.status for m in messages.values()} == {"failed"}
    for message in messages.values():
        assert message.status_reason == (
            "The template's body could not be rendered: "
            "it goes past the time limit of 0.5 s (line 1)."
        )
    assert _fanned_out(factory, campaign_id)
