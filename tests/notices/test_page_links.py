"""The pages staff notices link to are pages of the staff UI (an API route answers a browser
with JSON, or a 401, and the notice's reader finds nothing)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from proirp.config.pages import AUDIT_PAGE, CAMPAIGNS_PAGE, INBOX_PAGE, SETTINGS_PAGE


def test_every_linked_page_is_a_page(api: TestClient) -> None:
    for path in (INBOX_PAGE, AUDIT_PAGE, SETTINGS_PAGE, f"{CAMPAIGNS_PAGE}/{'0' * 32}"):
        answer = api.get(path, follow_redirects=False)
        # A page sends a browser that is not signed in to the sign-in page, and back after.
        assert answer.status_code == 303, (path, answer.status_code)
        assert answer.headers["location"].startswith("/app/signin?next="), path
