"""A page's refusal names the field as the API's does, a model's own check about one of its
fields included (it read "form: is empty" where the API said `client_ids`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proirp.comms.schemas import BulkCreate
from proirp.web.routing import field_messages


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "sms", "client_ids": [], "body": "Hi"}, "client_ids"),
        ({"type": "sms", "filter": {}, "body": "Hi", "html": "<p>Hi</p>"}, "html"),
        ({"type": "sms"}, "client_ids"),
    ],
)
def test_a_models_own_check_names_its_field_on_a_page(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BulkCreate.model_validate(body)
    assert list(field_messages(refused.value.errors())) == [field]
