"""Answers built by hand (JSONResponse) are exactly what their documented models describe: every
key is in the model, and the model drops nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.orm import Session

from proirp.auth.schemas import LoginOut
from proirp.clients.schemas import ClientAnswer
from proirp.comms.responses import (
    CampaignAnswer,
    CommunicationAnswer,
    CommunicationDetail,
    MessageRefused,
)
from proirp.comms.templates.responses import TemplateAnswer
from proirp.kit.openapi import ErrorBody
from tests.factories import PASSWORD, create_staff, create_user


def _described(model: type[BaseModel], body: dict[str, Any]) -> None:
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True, by_alias=True) == body
    assert set(body) <= {field.alias or name for name, field in model.model_fields.items()}


def test_client_message_campaign_and_template_answers(api: TestClient, db: Session) -> None:
    staff = create_staff(db, role="admin")
    db.commit()
    created = api.post(
        "/clients",
        json={
            "first_name": "Avery",
            "last_name": "Quinn",
            "phone": "(202) 555-0143",
            "sms_consent": True,
            "consent_source": "intake form",
        },
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    _described(ClientAnswer, created.json())
    client_id = created.json()["client"]["id"]

    sent = api.post(
        "/comms",
        json={"client_id": client_id, "type": "sms", "body": "Please call our office."},
        headers=staff.headers,
    )
    assert sent.status_code == 202, sent.text
    _described(CommunicationAnswer, sent.json())
    detail = api.get(f"/comms/{sent.json()['communication']['id']}", headers=staff.headers)
    _described(CommunicationDetail, detail.json())

    blocked = api.post(
        "/comms",
        json={"client_id": client_id, "type": "email", "subject": "Hi", "body": "Hello."},
        headers=staff.headers,
    )
    assert blocked.status_code == 422, blocked.text
    _described(MessageRefused if "communication" in blocked.json() else ErrorBody, blocked.json())

    campaign = api.post(
        "/comms/bulk",
        json={"type": "sms", "client_ids": [client_id], "body": "Office closed Friday."},
        headers=staff.headers,
    )
    assert campaign.status_code == 202, campaign.text
    _described(CampaignAnswer, campaign.json())

    template = api.post(
        "/templates",
        json={"name": "Reminder", "type": "sms", "body": "Please call our office."},
        headers=staff.headers,
    )
    assert template.status_code == 201, template.text
    _described(TemplateAnswer, template.json())


def test_the_login_answer(api: TestClient, db: Session) -> None:
    user = create_user(db, role="staff")
    db.commit()
    response = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    _described(LoginOut, response.json())
