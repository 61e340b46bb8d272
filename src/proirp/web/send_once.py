"""The key a send form carries (comms/request_keys.py), new each time the form is shown: a double
click, or the form sent again from the browser's history, sends once. The request the key was
held for is kept with it, encrypted: the same form sent with other words is another send, made
without a key."""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.comms.request_keys import Answer, fingerprint, hold
from proirp.kit.errors import ValidationFailed
from proirp.web.routing import field

SEND_KEY = "send_key"  # the form field


def new_send_key() -> str:
    return uuid.uuid4().hex


def hold_form_key(
    session: Session, user_id: str, form: FormData, what: str, body: BaseModel
) -> tuple[str | None, Answer | None]:
    """The form's key, held for this send of `what` ("message", "campaign"), to keep its answer
    with; or the answer this very send was given already. (None, None): send without a key (the
    form has none, or it was sent before with other words)."""
    key = field(form, SEND_KEY)
    if key is None or not re.fullmatch(r"[0-9a-f]{32}", key):
        return None, None
    try:
        earlier = hold(session, user_id, key, fingerprint(what, body.model_dump(mode="json")))
    except ValidationFailed:  # the same form, other words: another send
        return None, None
    return (None, earlier) if earlier is not None else (key, None)
