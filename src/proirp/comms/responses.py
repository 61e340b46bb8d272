"""Response bodies for /comms and /campaigns, as /openapi.json describes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from proirp.comms.inbox.schemas import MessageOut
from proirp.comms.schemas import CampaignOut, CommEventOut, CommOut
from proirp.kit.openapi import ErrorDetail

_WHEN = "2030-01-15T15:00:00Z"
COMMUNICATION_EXAMPLE: dict[str, Any] = {
    "id": "3e7a1c9b5d2f4e8a9c0b1d2e3f4a5b6c",
    "client_id": "0c9a4e2f7b1d4a6e8f3c5b7d9e1a2c4f",
    "user_id": "5f0c2a9e8b7d4e6fa1c3b5d7e9f1a2b4",
    "campaign_id": None,
    "direction": "outbound",
    "purpose": None,
    "type": "sms",
    "to": "+12025550143",
    "from": None,
    "status": "queued",
    "status_reason": None,
    "provider": "twilio",
    "provider_message_id": None,
    "error_code": None,
    "segments": 1,
    "created_at": _WHEN,
    "send_at": None,
    "sent_at": None,
    "delivered_at": None,
}
CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "id": "8d2b6f0a4c1e4b7d9a3f5c7e1b9d0a2c",
    "name": "Office closed Friday",
    "type": "email",
    "status": "queued",
    "total": 0,
    "counts": {},
    "progress": 0,
    "send_at": None,
    "created_at": _WHEN,
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class CommWithEventsOut(MessageOut):
    events: list[CommEventOut] = Field(description="Its status history, oldest first.")


class CommunicationAnswer(BaseModel):
    model_config = _examples({"ok": True, "communication": COMMUNICATION_EXAMPLE})

    ok: Literal[True]
    communication: CommOut


class CommunicationDetail(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "communication": {
                **COMMUNICATION_EXAMPLE,
                "subject": None,
                "body": "Please call our office.",
                "media": [],
                "read": None,
                "events": [
                    {
                        "status": "queued",
                        "source": "api",
                        "error_code": None,
                        "reason": None,
                        "occurred_at": _WHEN,
                    }
                ],
            },
        }
    )

    ok: Literal[True]
    communication: CommWithEventsOut


class CommunicationList(BaseModel):
    model_config = _examples(
        {"ok": True, "communications": [COMMUNICATION_EXAMPLE], "next_cursor": None}
    )

    ok: Literal[True]
    communications: list[CommOut]
    next_cursor: str | None


class MessageRefused(BaseModel):
    """Invalid input (`validation_error`), or a message the guard blocked (`message_blocked`):
    a blocked message is recorded, and `communication` is its row."""

    model_config = _examples(
        {
            "ok": False,
            "error": {
                "code": "message_blocked",
                "message": "the client has not consented to SMS",
                "fields": {"client_id": "the client has not consented to SMS"},
            },
            "communication": {**COMMUNICATION_EXAMPLE, "status": "blocked"},
        }
    )

    ok: Literal[False]
    error: ErrorDetail
    communication: CommOut | None = None


class CampaignAnswer(BaseModel):
    model_config = _examples({"ok": True, "campaign": CAMPAIGN_EXAMPLE})

    ok: Literal[True]
    campaign: CampaignOut


class CampaignList(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "campaigns": [
                {**CAMPAIGN_EXAMPLE, "status": "scheduled", "send_at": "2030-01-16T14:00:00Z"}
            ],
            "next_cursor": None,
        }
    )

    ok: Literal[True]
    campaigns: list[CampaignOut] = Field(description="Newest first.")
    next_cursor: str | None
