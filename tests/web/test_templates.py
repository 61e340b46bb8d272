"""Templates in the browser: created and edited with their variables' PHI classes shown, previewed
with sample values, refused as the API refuses them, archived; read-only for a clinician."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from proirp.comms.models import Template
from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import add_user, sign_in

SMS_TEXT = (
    "Hi {{ client.first_name }}, the office is closed on {{ closed_day }}. "
    "Call {{ practice.phone }} with any question."
)


def _variables(page: Any) -> dict[str, str]:
    """The template page's variables table: name → PHI class shown."""
    rows = page.locator("#variables tbody tr")
    return {
        rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(1).inner_text()
        for i in range(rows.count())
    }


def test_a_template_is_created_edited_previewed_and_archived(page: Any, live: LiveStack) -> None:
    page.goto("/app/templates")
    expect(page.get_by_role("heading", level=1)).to_have_text("Templates")
    page.get_by_role("link", name="New template").click()
    page.wait_for_url("**/app/templates/new")
    check_page(page, "template-new")
    page.get_by_label("Name", exact=True).fill("Office closed")
    page.get_by_label("Channel").select_option("sms")
    page.get_by_label("Text", exact=True).fill(SMS_TEXT)
    # Only the variable the product does not fill in is declared by hand; the others are
    # declared for the staff member with the class the product gives them.
    page.get_by_label("Variable 1", exact=True).fill("closed_day")
    page.get_by_label("PHI class of variable 1").select_option("not_phi")
    page.get_by_role("button", name="Create the template").click()
    page.wait_for_url(re.compile(r"/app/templates/[0-9a-f]{32}\?done=created$"))
    expect(page.get_by_role("status")).to_have_text("The template was created.")
    assert _variables(page) == {
        "closed_day": "Not PHI",
        "client.first_name": "PHI",
        "practice.phone": "Not PHI",
    }
    expect(page.locator("#preview-body")).to_have_text(
        "Hi [client.first_name], the office is closed on [closed_day]. "
        "Call [practice.phone] with any question."
    )
    check_page(page, "template")
    template_id = page.url.split("/")[-1].split("?")[0]

    # Edited: new text, and the hand-declared variable is now PHI.
    page.get_by_label("Text", exact=True).fill(
        "Hello {{ client.first_name }}: closed {{ closed_day }}."
    )
    page.get_by_label("PHI class of variable 1").select_option("phi")
    page.get_by_role("button", name="Save the template").click()
    page.wait_for_url(f"**/app/templates/{template_id}?done=saved")
    assert _variables(page) == {
        "closed_day": "PHI",
        "client.first_name": "PHI",
        "practice.phone": "Not PHI",
    }
    expect(page.locator("#preview-body")).to_have_text(
        "Hello [client.first_name]: closed [closed_day]."
    )
    with live.session() as session:
        saved = session.get(Template, template_id)
        assert saved is not None
        assert saved.body == "Hello {{ client.first_name }}: closed {{ closed_day }}."
        assert {"name": "closed_day", "phi": True} in saved.variables

    # A variable the text uses and nobody declared: refused as the API refuses it, by field.
    page.get_by_label("Text", exact=True).fill("Hello {{ appointment_room }}.")
    page.get_by_role("button", name="Save the template").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That was not done")
    expect(page.locator(".field-errors")).to_contain_text("uses undeclared variable")
    check_page(page, "template-refused")
    page.go_back()

    page.goto("/app/templates")
    expect(page.get_by_role("link", name="Office closed")).to_be_visible()
    check_page(page, "templates")
    page.get_by_role("link", name="Office closed").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive the template").click()
    page.wait_for_url("**/app/templates?done=archived")
    expect(page.get_by_role("status")).to_contain_text("archived")
    expect(page.get_by_role("link", name="Office closed")).to_have_count(0)


def test_an_email_template_previews_its_subject_and_html(page: Any, live: LiveStack) -> None:
    page.goto("/app/templates/new")
    page.get_by_label("Name", exact=True).fill("Newsletter")
    page.get_by_label("Channel").select_option("email")
    page.get_by_label("Subject (email only)").fill("News from {{ practice.name }}")
    page.get_by_label("Text", exact=True).fill("Dear {{ client.first_name }}, here is our news.")
    page.get_by_label("HTML part (email only, optional)").fill(
        "<p>Dear {{ client.first_name }},</p>"
    )
    page.get_by_role("button", name="Create the template").click()
    page.wait_for_url(re.compile(r"\?done=created$"))
    assert _variables(page) == {"client.first_name": "PHI", "practice.name": "Not PHI"}
    expect(page.locator("#preview-subject")).to_have_text("News from [practice.name]")
    expect(page.locator("#preview-body")).to_have_text(
        "Dear [client.first_name], here is our news."
    )
    # The HTML part is shown as its source, never as markup in the page.
    expect(page.locator("#preview-html")).to_have_text("<p>Dear [client.first_name],</p>")
    check_page(page, "template-email")


def test_a_clinician_reads_templates_but_cannot_change_them(browser: Any, live: LiveStack) -> None:
    with live.api() as api:
        created = api.post(
            "/templates",
            json={"name": "Call us", "type": "sms", "body": "Please call our office."},
        )
    assert created.status_code == 201, created.text
    template_id = created.json()["template"]["id"]
    add_user(live, "clinician@lakeside.example.com", "clinician")
    context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    page = context.new_page()
    sign_in(page, live, "clinician@lakeside.example.com")
    page.goto(f"/app/templates/{template_id}")
    expect(page.locator("#preview-body")).to_have_text("Please call our office.")
    expect(page.get_by_role("button", name="Save the template")).to_have_count(0)
    page.goto("/app/templates")
    expect(page.get_by_role("link", name="New template")).to_have_count(0)
    answer = page.goto("/app/templates/new")
    assert answer is not None and answer.status == 403
    context.close()
