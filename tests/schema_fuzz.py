"""What schemathesis must know of the API beyond /openapi.json, shared by the in-process fuzz test
(tests/api/test_schema_fuzz.py) and the live one (`make prove`'s prove/fuzz.py): the formats it
cannot invent, the size limit's 413, and the rules a JSON schema cannot state."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import available_timezones

import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance, use_after_free

from proirp.kit.pagination import Cursor

# Operations whose schema-valid requests can still be refused with a 422, by a rule about other
# records or about several fields together that a JSON schema cannot state. Each 422 they give
# is still checked against the documented error shape.
RULES_BEYOND_THE_SCHEMA: dict[str, str] = {
    "POST /clients": "the phone must be a real number; consent needs its source",
    "PATCH /clients/{client_id}": "the phone must be a real number; consent needs its source",
    "GET /audit-logs": "the cursor must be one this API issued",
    "POST /comms": "the client must exist and consent; a body or a template, not both",
    "POST /comms/bulk": "recipients or a filter; a body or a template, not both",
    "POST /templates": "the text must parse and declare each variable it uses",
    "PATCH /templates/{template_id}": "the text must parse and declare each variable it uses",
    "GET /calendar/events": "end must be after start",
    "POST /calendar/events": "end after start; the calendar must be connected",
    "PATCH /calendar/events/{event_id}": "end after start, also against the event's own times",
    "PUT /reminders/rules": "wordings hold no PHI and no placeholder but {when}; one rule per "
    "channel and offset; a template of the rule's channel",
    "PUT /inbox/settings": "the on-call address must be a deliverable email address",
    "GET /inbox": "the cursor must be one this API issued",
    "POST /inbox/{message_id}/attach": "the client must exist",
    "PUT /clients/{client_id}/care-team": "each member must be an active clinician",
    "POST /break-glass": "the client must exist and not be on the caller's care team",
    "POST /auth/mfa/enrolment/confirm": "the code must be the one the new key gives now",
    "POST /auth/mfa/recovery-codes": "the code must be the one the user's app shows now",
    "POST /users/{user_id}/password-reset": "an admin's account needs the acting admin's "
    "current code",
    "POST /users/{user_id}/mfa/reset": "an admin's account needs the acting admin's current code",
    "POST /users/{user_id}/disable": "an admin's account needs the acting admin's current code",
    "POST /users/{user_id}/enable": "an admin's account needs the acting admin's current code",
    "POST /users/{user_id}/role": "an admin's account, or making one, needs the acting admin's "
    "current code",
}

# Cursors are opaque: only one this API returned is valid, so generate those.
schemathesis.openapi.format(
    "cursor",
    st.builds(
        lambda when, id_: Cursor(when, id_).encode(),
        st.datetimes(timezones=st.just(UTC)),
        st.text("0123456789abcdef", min_size=32, max_size=32),
    ),
)
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(available_timezones())))


def configure(schema: schemathesis.BaseSchema) -> None:
    """What every run over the API's document holds to, besides the document itself."""
    # No text may hold a NUL character (tests/api/test_edge_input.py holds every operation to it).
    schema.config.generation.update(allow_x00=False)
    # A body over its address's size limit is refused with 413 before it is parsed, valid or
    # not (JSON can spell a character of a string at its longest in 12 bytes).
    for check in (
        schema.config.checks.negative_data_rejection,
        schema.config.checks.positive_data_acceptance,
    ):
        check.expected_statuses = [*check.expected_statuses, "413"]


# Operations that still answer for a resource after a DELETE of it, by design.
READABLE_AFTER_DELETION: dict[str, str] = {
    "GET /clients/{client_id}/messages": "a deleted client's messages outlive the record",
}


def excluded_checks(label: str) -> list[schemathesis.CheckFunction]:
    """The checks an operation is spared: a schema-valid request may be refused by a rule
    beyond the schema; a deleted resource's part may stay readable."""
    excluded: list[schemathesis.CheckFunction] = []
    if label in RULES_BEYOND_THE_SCHEMA:
        excluded.append(positive_data_acceptance)
    if label in READABLE_AFTER_DELETION:
        excluded.append(use_after_free)
    return excluded
