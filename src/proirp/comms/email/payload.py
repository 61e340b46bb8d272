"""A verified Event Webhook batch read event by event: the fields the product uses, each checked
against where it is kept.

An event whose identifiers (its id, its message's id, our reference, the address, its name) hold a
NUL or do not fit is skipped: a cut identifier could name another message or address. A code that
does not fit (a bounce's SMTP status or type) is left out and the event applied without it. The
other events of the batch are applied either way, and SendGrid is not asked to send it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from proirp.clients.models import OptOut
from proirp.comms.models import Communication, CommunicationEvent
from proirp.integrations.sendgrid.adapter import REFERENCE_ARG
from proirp.kit.input import NUL, RequestBody, StoredIn, column_width

EVENT_ID_PREFIX = "sendgrid:"
EVENT_ID_WIDTH = column_width(CommunicationEvent.provider_event_id) - len(EVENT_ID_PREFIX)
MESSAGE_ID_WIDTH = column_width(Communication.provider_message_id)
CODE_WIDTH = column_width(Communication.error_code)
# SendGrid's unsubscribe group ids are positive 32-bit integers.
MAX_GROUP = 2**31 - 1


def _code_or_none(value: object) -> str | None:
    """A code as SendGrid writes one (5.1.1, blocked), or None for anything else."""
    if isinstance(value, str) and value and NUL not in value and len(value) <= CODE_WIDTH:
        return value
    return None


def _group_or_none(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_GROUP:
        return value
    return None


Code = Annotated[str | None, BeforeValidator(_code_or_none)]


class SendGridEvent(RequestBody):
    """One event of a batch, as far as the product reads it (its other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event: Annotated[str, StringConstraints(max_length=32, to_lower=True)] = ""
    sg_event_id: Annotated[str, StringConstraints(max_length=EVENT_ID_WIDTH)] | None = None
    sg_message_id: str | None = None
    email: Annotated[str, StoredIn(OptOut.address)] | None = None
    reference: Annotated[str, StoredIn(Communication.id)] | None = Field(
        default=None, alias=REFERENCE_ARG
    )
    type: Code = None
    status: Code = None
    asm_group_id: Annotated[int | None, BeforeValidator(_group_or_none)] = None

    @field_validator("sg_message_id")
    @classmethod
    def _batch_id_fits(cls, value: str | None) -> str | None:
        if value is not None and len(batch_id(value)) > MESSAGE_ID_WIDTH:
            raise ValueError(f"names a message with more than {MESSAGE_ID_WIDTH} characters")
        return value


def batch_id(sg_message_id: str) -> str:
    """SendGrid's id of the batch: its message id up to the first dot (a per-recipient part
    follows)."""
    return sg_message_id.split(".", 1)[0]


@dataclass
class Batch:
    """The events of a batch that can be applied, and what was wrong with the others."""

    events: list[SendGridEvent] = field(default_factory=list)
    malformed: int = 0
    fields: set[str] = field(default_factory=set)  # names only, never values


def read_batch(raw: Sequence[dict[str, Any]]) -> Batch:
    batch = Batch()
    for item in raw:
        try:
            batch.events.append(SendGridEvent.model_validate(item))
        except ValidationError as exc:
            batch.malformed += 1
            batch.fields.update(str(error["loc"][0]) for error in exc.errors() if error["loc"])
    return batch
