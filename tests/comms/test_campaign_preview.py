"""A campaign's preview says, for each recipient, what its fan-out then does: the same messages
queued, the same ones blocked or failed, with the same reasons. It writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.clients.models import Channel, Client, OptOut
from proirp.comms.campaigns.fan_out import fan_out
from proirp.comms.campaigns.preview import preview_campaign
from proirp.comms.models import Campaign, Communication, Template
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.errors import ValidationFailed
from tests.comms.rows import own_database

BODY = "Our office is closed on Monday, Finley."  # a name: PHI to Finley, not to the others


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(Path(tmp_path_factory.mktemp("campaign-preview"))) as made:
        yield made


@pytest.fixture
def worker_settings(settings: Settings, app: FastAPI) -> Settings:
    return settings  # the app registers the jobs a fan-out queues


def _clients(factory: sessionmaker[Session], people: dict[str, dict[str, Any]]) -> dict[str, str]:
    """First name → id of clients written straight in, with opt-outs where `opted_out` says."""
    with factory() as session:
        rows = {}
        for name, fields in people.items():
            opted_out = fields.pop("opted_out", None)
            rows[name] = Client(
                first_name=name, last_name="Quinn", timezone="America/Chicago", **fields
            )
            if opted_out:
                channel, address = opted_out
                session.add(OptOut(channel=channel, address=address, reason="x", source="staff"))
        session.add_all(rows.values())
        session.commit()
        return {name: client.id for name, client in rows.items()}


def _fan_out(
    factory: sessionmaker[Session], settings: Settings, ids: dict[str, str], **campaign: Any
) -> dict[str, tuple[str, str | None]]:
    """The campaign written as POST /comms/bulk would, fanned out: name → (status, reason)."""
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        session.add(user)
        session.flush()
        row = Campaign(
            created_by_user_id=user.id,
            selection={"client_ids": list(ids.values())},
            total=len(ids),
            **campaign,
        )
        session.add(row)
        session.commit()
        campaign_id = row.id
    fan_out(factory, settings, campaign_id)
    names = {client_id: name for name, client_id in ids.items()}
    with factory() as session:
        stmt = select(Communication).where(Communication.campaign_id == campaign_id)
        return {
            names[c.client_id or ""]: (c.status, c.status_reason) for c in session.scalars(stmt)
        }


def _preview(
    factory: sessionmaker[Session], settings: Settings, ids: dict[str, str], **campaign: Any
) -> dict[str, tuple[str, str | None]]:
    names = {client_id: name for name, client_id in ids.items()}
    with factory() as session:
        rows = [select(func.count()).select_from(t) for t in (AuditLog, Communication, Campaign)]
        before = [session.scalar(count) for count in rows]
        preview = preview_campaign(
            session, selection={"client_ids": list(ids.values())}, settings=settings, **campaign
        )
        assert not session.new and not session.dirty  # nothing to write
        assert [session.scalar(count) for count in rows] == before
    return {
        names[r.client_id]: (r.status, r.reason if r.status != "queued" else None)
        for r in preview.recipients
    }


def test_an_sms_campaigns_preview_is_what_its_fan_out_does(
    factory: sessionmaker[Session], worker_settings: Settings
) -> None:
    ids = _clients(
        factory,
        {
            "Avery": {"phone": "+12025550101", "sms_consent": True},
            "Blake": {"sms_consent": True},
            "Casey": {"phone": "+1202555", "sms_consent": True},
            "Drew": {"phone": "+12025550104", "sms_consent": False},
            "Emery": {
                "phone": "+12025550105",
                "sms_consent": True,
                "opted_out": (Channel.SMS, "+12025550105"),
            },
            "Finley": {"phone": "+12025550106", "sms_consent": True},
        },
    )
    previewed = _preview(factory, worker_settings, ids, channel="sms", body=BODY)
    assert previewed["Avery"] == ("queued", None)
    assert previewed["Blake"] == ("blocked", "The client has no phone number.")
    assert previewed["Casey"][0] == "blocked" and "phone" in str(previewed["Casey"][1])
    assert previewed["Drew"] == ("blocked", "The client has not consented to SMS.")
    assert previewed["Emery"] == ("blocked", "The client opted out of SMS (replied STOP).")
    assert previewed["Finley"][0] == "blocked" and "BAA" in str(previewed["Finley"][1])

    sent = _fan_out(factory, worker_settings, ids, channel="sms", body=BODY)
    assert previewed == sent


def test_a_campaign_that_carries_one_recipient_s_number_or_address_is_blocked_for_them(
    factory: sessionmaker[Session], worker_settings: Settings
) -> None:
    ids = _clients(
        factory,
        {
            "Hollis": {"phone": "+12025550131", "email": "hq7@example.com"},
            "Indigo": {"phone": "+12025550132", "email": "indigo@example.com"},
        },
    )
    with factory() as session:
        for client in session.scalars(select(Client).where(Client.id.in_(ids.values()))):
            client.sms_consent = client.email_consent = True
        session.commit()
    body = "If (202) 555-0131 or HQ7@example.com is no longer yours, please call us."
    sms = _preview(factory, worker_settings, ids, channel="sms", body=body)
    assert sms["Indigo"] == ("queued", None)
    assert sms["Hollis"][0] == "blocked" and "the client's phone number" in str(sms["Hollis"][1])
    assert "0131" not in str(sms["Hollis"][1])
    assert _fan_out(factory, worker_settings, ids, channel="sms", body=body) == sms
    email = {"channel": "email", "subject": "Your details", "body": body}
    mails = _preview(factory, worker_settings, ids, **email)
    assert mails["Indigo"] == ("queued", None)
    assert "the client's email address" in str(mails["Hollis"][1])
    assert _fan_out(factory, worker_settings, ids, **email) == mails


def test_an_email_campaigns_preview_is_what_its_fan_out_does(
    factory: sessionmaker[Session], worker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_settings, "sendgrid_hipaa_enabled", True)  # names may go
    ids = _clients(
        factory,
        {
            "Avery": {"email": "avery@example.com", "phone": "+12025550111", "email_consent": True},
            "Blake": {"phone": "+12025550112", "email_consent": True},
            "Casey": {
                "email": "casey@example.com",
                "phone": "+12025550113",
                "email_consent": True,
                "opted_out": (Channel.EMAIL, "casey@example.com"),
            },
            "Drew": {"email": "drew@example.com", "phone": "+12025550114"},
            "Emery": {"email": "emery@example.com", "email_consent": True},  # no phone
        },
    )
    with factory() as session:
        template = Template(
            name=f"t-{new_id()}",
            channel="email",
            subject="News from {{ practice.name }}",
            body="Hi {{ client.first_name }}, call us from {{ client.phone }}.",
            variables=[
                {"name": "client.first_name", "phi": True},
                {"name": "client.phone", "phi": True},
                {"name": "practice.name", "phi": False},
            ],
        )
        session.add(template)
        session.commit()
    campaign = {"channel": "email", "body": "", "template_id": template.id}
    previewed = _preview(factory, worker_settings, ids, **campaign)
    assert previewed["Avery"] == ("queued", None)
    assert previewed["Blake"] == ("blocked", "The client has no email.")
    assert previewed["Casey"][0] == "blocked" and "suppression list" in str(previewed["Casey"][1])
    assert previewed["Drew"] == ("blocked", "The client has not consented to email.")
    assert previewed["Emery"] == (
        "blocked",
        "The template needs client.phone, which the client's record does not have.",
    )

    sent = _fan_out(factory, worker_settings, ids, **campaign)
    assert previewed == sent


def test_a_preview_refuses_what_starting_the_campaign_refuses(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _clients(factory, {"Gray": {"phone": "+12025550121", "sms_consent": True}})
    with factory() as session, pytest.raises(ValidationFailed) as empty:
        preview_campaign(
            session, channel="sms", selection={"client_ids": [*ids.values()]}, body=" ",
            settings=settings,
        )  # fmt: skip
    assert empty.value.fields == {"body": "is empty"}
    with factory() as session, pytest.raises(ValidationFailed) as unknown:
        preview_campaign(
            session, channel="sms", selection={"client_ids": ["0" * 32]}, body="Hello.",
            settings=settings,
        )  # fmt: skip
    assert "client_ids" in (unknown.value.fields or {})
    with factory() as session, pytest.raises(ValidationFailed) as phi:
        preview_campaign(
            session, channel="email", selection={"filter": {}}, body="Your diagnosis is ready.",
            subject="Results", settings=settings,
        )  # fmt: skip
    assert "BAA" in phi.value.message
