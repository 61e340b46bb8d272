"""The key a send form carries (comms/request_keys.py), new each time the form is shown: a double
click, or the form sent again from the browser's history, sends once. The key held is the form's
and the request's own together: the same form sent with other words is another send."""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel
from starlette.datastructures import FormData

from proirp.comms.request_keys import fingerprint
from proirp.web.routing import field

SEND_KEY = "send_key"  # the form field
HELD_FOR = "form"  # what the key is held for (the request itself is in the key)


def new_send_key() -> str:
    return uuid.uuid4().hex


def send_key(form: FormData, what: str, body: BaseModel) -> str | None:
    """The key for this form's `what` ("message", "campaign") with this body; None when the form
    carries none."""
    key = field(form, SEND_KEY)
    if key is None or not re.fullmatch(r"[0-9a-f]{32}", key):
        return None
    return f"{key}:{fingerprint(what, body.model_dump(mode='json'))[-32:]}"
