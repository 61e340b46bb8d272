"""Clients in the browser: creating one and finding it; a client's page, where staff send SMS and
email and watch each status reach `delivered` without loading the page again; the guard's
refusals (PHI without a BAA, a client who texted STOP) shown with their reasons, before sending
where they can be known; and a page read audited as the API's reads are."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect
from sqlalchemy import select

from proirp.comms.inbox.models import MessageMedia
from proirp.comms.models import Communication
from tests.comms.test_inbox_live import png_bytes
from tests.live import LiveStack, wait_until
from tests.web.browser import check_page
from tests.web.conftest import PASSWORD, add_user
from tests.web.messaging import (
    add_client,
    audit_rows_after,
    client_texts,
    last_audit_id,
    mark_document,
    same_document,
)

DELIVERY = 30_000  # ms: the mounted sandbox delivers and calls back on its own

FRONT_DESK = "frontdesk@lakeside.example.com"


def messages_of(live: LiveStack, client_id: str) -> list[Communication]:
    with live.session() as session:
        return list(
            session.scalars(
                select(Communication)
                .where(Communication.client_id == client_id)
                .order_by(Communication.created_at)
            )
        )


def open_client(page: Any, client_id: str) -> None:
    page.goto(f"/app/clients/{client_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def message_in_thread(page: Any, text: str) -> Any:
    return page.locator("#thread li", has_text=text)


def write(page: Any, channel: str, body: str, subject: str | None = None) -> None:
    composer = page.locator("#composer")
    composer.get_by_role("radio", name=channel, exact=True).check()
    if subject is not None:
        composer.get_by_label("Subject (email only)").fill(subject)
    composer.get_by_label("Message", exact=True).fill(body)


def test_create_a_client_in_the_ui_and_find_it_by_search(page: Any, live: LiveStack) -> None:
    page.goto("/app/clients")
    page.get_by_role("link", name="New client").click()
    page.wait_for_url(re.compile(r"/app/clients/new$"))
    check_page(page, "client-new")
    page.get_by_label("First name").fill("Marisol")
    page.get_by_label("Last name").fill("Okonkwo-Reyes")
    page.get_by_label("Phone number").fill("(202) 555-0171")
    page.get_by_label("Email address").fill("marisol@example.com")
    page.get_by_label("Consents to SMS").check()
    page.get_by_label("How consent was given").fill("intake form")
    page.get_by_role("button", name="Create client").click()

    page.wait_for_url(re.compile(r"/app/clients/[0-9a-f]{32}\?done=created$"))
    expect(page.get_by_role("status")).to_have_text("Client created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Marisol Okonkwo-Reyes")
    sms = page.locator("#consent-sms")
    expect(sms).to_contain_text("Given")
    expect(sms).to_contain_text("intake form")
    expect(page.locator("#consent-email")).to_contain_text("Not given")
    client_url = page.url.split("?")[0]

    # Another client, so the search has something to leave out.
    add_client(live, first_name="Someone", last_name="Else", phone="+12025550172")
    page.goto("/app/clients")
    page.get_by_label("Search by name, email or phone").fill("okonkwo")
    page.get_by_role("button", name="Search").click()
    # Posted: what was typed stays out of the address (and the browser's history).
    page.wait_for_url(re.compile(r"/app/clients/search$"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("+12025550171")
    check_page(page, "clients-search")
    # By the digits of the phone number, too.
    page.get_by_label("Search by name, email or phone").fill("555-0171")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Marisol Okonkwo-Reyes").click()
    page.wait_for_url(client_url)


def test_a_refused_new_client_names_the_field(page: Any) -> None:
    page.goto("/app/clients/new")
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Last name").fill("Petrova")
    page.get_by_label("Consents to SMS").check()  # without saying how consent was given
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_role("alert")).to_contain_text("consent")
    expect(page.locator(".field-errors")).to_contain_text("consent_source")


def test_change_a_client_s_details(page: Any, live: LiveStack) -> None:
    client_id = add_client(live, first_name="Priya", last_name="Raman", phone="+12025550173")
    open_client(page, client_id)
    page.get_by_text("Change contact details or consent").click()
    page.get_by_label("Email address").fill("priya@example.com")
    page.get_by_label("Consents to email").uncheck()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}\?done=updated$"))
    expect(page.get_by_role("status")).to_have_text("Client details saved.")
    expect(page.locator("dl.facts")).to_contain_text("priya@example.com")
    expect(page.locator("#consent-email")).to_contain_text("Withdrawn")
    expect(page.locator("#consent-sms")).to_contain_text("Given")


def test_send_an_sms_and_an_email_and_watch_both_reach_delivered(
    page: Any, live: LiveStack
) -> None:
    client_id = add_client(
        live,
        first_name="Tomasz",
        last_name="Wiśniewski",
        phone="+12025550174",
        email="tomasz@example.com",
    )
    open_client(page, client_id)
    write(page, "SMS", "Please call our office when you can.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}\?done=sent"))
    expect(page.get_by_role("status")).to_contain_text("Message queued")
    mark_document(page)
    sms = message_in_thread(page, "Please call our office when you can.")
    expect(sms.locator(".status")).to_have_text("delivered", timeout=DELIVERY)
    assert same_document(page), "the page was loaded again"

    write(page, "Email", "Your forms are ready at the front desk.", subject="From the office")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}\?done=sent"))
    mark_document(page)
    email = message_in_thread(page, "Your forms are ready at the front desk.")
    expect(email).to_contain_text("From the office")
    expect(email).to_contain_text("Email")
    expect(email.locator(".status")).to_have_text("delivered", timeout=DELIVERY)
    assert same_document(page), "the page was loaded again"
    expect(sms.locator(".status")).to_have_text("delivered")
    check_page(page, "client")

    assert [(m.channel, m.status) for m in messages_of(live, client_id)] == [
        ("sms", "delivered"),
        ("email", "delivered"),
    ]


def test_a_scheduled_message_says_when_it_goes(page: Any, live: LiveStack) -> None:
    client_id = add_client(live, first_name="Ines", last_name="Duarte", phone="+12025550175")
    open_client(page, client_id)
    write(page, "SMS", "A reminder to bring your forms.")
    page.get_by_label(re.compile(r"^Send at")).fill("2099-01-01T09:00")
    page.get_by_role("button", name="Send", exact=True).click()
    # 2099 is past the 90 days a message may wait: the API's own refusal, naming the field.
    expect(page.locator("#verdict")).to_contain_text("send_at")
    expect(page.locator("#verdict")).to_contain_text("90 days")
    expect(page.get_by_label("Message", exact=True)).to_have_value(
        "A reminder to bring your forms."
    )
    assert messages_of(live, client_id) == []


def test_a_template_with_phi_variables_is_shown_blocked_before_sending(
    page: Any, live: LiveStack
) -> None:
    client_id = add_client(live, first_name="Avery", last_name="Lindqvist", phone="+12025550176")
    with live.api() as api:
        answer = api.post(
            "/templates",
            json={
                "name": "Hello by name",
                "type": "sms",
                "body": "Hi {{ client.first_name }}, please call us.",
                "variables": [{"name": "client.first_name", "phi": True}],
            },
        )
    assert answer.status_code == 201, answer.text
    open_client(page, client_id)
    choice = page.get_by_label("Start from a template")
    expect(choice.locator("option", has_text="Hello by name")).to_contain_text("uses PHI")
    choice.select_option(label="Hello by name (SMS): uses PHI, cannot be sent here")
    page.get_by_role("button", name="Use this template").click()

    # Known before anything is sent: the template's PHI variable, and no BAA with Twilio.
    block = page.locator("#template-block")
    expect(block).to_contain_text("client.first_name")
    expect(block).to_contain_text("Twilio has no signed BAA")
    expect(page.get_by_role("button", name="Send", exact=True)).to_have_count(0)
    expect(page.locator("#composer")).to_contain_text("filled in from the client's record (PHI)")
    check_page(page, "client-template-blocked")
    # The check says what sending would: the senders' own refusal.
    page.get_by_role("button", name="Check before sending").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("the template uses PHI variables and Twilio has no signed BAA")
    expect(verdict).to_contain_text("uses PHI variables: client.first_name")
    assert messages_of(live, client_id) == []


def test_phi_in_a_free_text_sms_is_shown_before_sending_and_refused_when_sent(
    page: Any, live: LiveStack
) -> None:
    client_id = add_client(live, first_name="Avery", last_name="Brennan", phone="+12025550177")
    open_client(page, client_id)
    text = "Hi Avery, about your therapy session next week."
    write(page, "SMS", text)
    page.get_by_role("button", name="Check before sending").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("role", "alert")
    expect(verdict).to_contain_text("Blocked")
    expect(verdict).to_contain_text(
        "Without a signed BAA with Twilio, SMS may not carry PHI; remove the client's name, "
        "clinical information."
    )
    expect(page.get_by_label("Message", exact=True)).to_have_value(text)
    assert messages_of(live, client_id) == []  # a check writes nothing

    page.get_by_role("button", name="Send", exact=True).click()
    expect(verdict).to_contain_text("Blocked")
    expect(verdict).to_contain_text("SMS may not carry PHI")
    refused = message_in_thread(page, text)
    expect(refused.locator(".status")).to_have_text("blocked")
    expect(refused).to_contain_text("remove the client's name")
    check_page(page, "client-phi-blocked")
    [row] = messages_of(live, client_id)
    assert row.status == "blocked"
    assert row.status_reason and "SMS may not carry PHI" in row.status_reason

    # A generic message passes the check.
    page.goto(f"/app/clients/{client_id}")
    write(page, "SMS", "Please call our office.")
    page.get_by_role("button", name="Check before sending").click()
    expect(page.locator("#verdict")).to_contain_text("Nothing stops this message")
    assert len(messages_of(live, client_id)) == 1


def test_a_client_who_texted_stop_shows_opted_out_and_an_sms_is_blocked(
    page: Any, live: LiveStack
) -> None:
    phone = "+12025550178"
    client_id = add_client(live, first_name="Kwame", last_name="Mensah", phone=phone)
    client_texts(live, phone, "STOP")
    open_client(page, client_id)
    sms = page.locator("#consent-sms")
    expect(sms).to_contain_text("Opted out")
    expect(sms).to_contain_text("replied STOP")
    expect(sms).to_contain_text("Source: the client's text message")
    expect(sms.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(sms.locator("time")).to_have_text(re.compile(r"^\d{1,2} \w{3} \d{4} \d\d:\d\d$"))
    expect(page.locator("#consent-email")).to_contain_text("No")

    write(page, "SMS", "Please call our office.")
    page.get_by_role("button", name="Check before sending").click()
    expect(page.locator("#verdict")).to_contain_text("The client opted out of SMS (replied STOP).")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#verdict")).to_contain_text(
        "Blocked: The client opted out of SMS (replied STOP)."
    )
    refused = message_in_thread(page, "Please call our office.")
    expect(refused.locator(".status")).to_have_text("blocked")
    expect(refused).to_contain_text("The client opted out of SMS (replied STOP).")
    check_page(page, "client-opted-out")
    # The client's STOP is in the thread too.
    expect(page.locator("#thread li.inbound", has_text="STOP")).to_contain_text("From the client")


def test_a_client_s_pictures_show_in_the_thread_and_other_files_download(
    page: Any, live: LiveStack
) -> None:
    phone = "+12025550180"
    client_id = add_client(live, first_name="Oluwaseun", last_name="Adeyemi", phone=phone)
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Front desk\r\nEND:VCARD\r\n"
    client_texts(
        live, phone, "My insurance card", media=[("image/png", png_bytes()), ("text/vcard", card)]
    )

    def fetched() -> bool:
        with live.session() as session:
            rows = session.scalars(select(MessageMedia.fetched_at)).all()
        return len(rows) == 2 and all(rows)

    assert wait_until(fetched, timeout=30, interval=0.3), "the worker did not fetch the media"
    open_client(page, client_id)
    mms = page.locator("#thread li.inbound", has_text="My insurance card")
    picture = mms.get_by_role("img", name="Picture 1 sent by the client")
    expect(picture).to_be_visible()
    # Shown through GET /comms/{id}/media/{media_id}, with the session's cookie.
    page.wait_for_function(
        "(image) => image.complete && image.naturalWidth === 2", arg=picture.element_handle()
    )
    download = mms.get_by_role(
        "link", name=re.compile(r"^Download attachment 2 \(text.vcard, \d+ bytes\)$")
    )
    with page.expect_download() as started:
        download.click()
    path = started.value.path()
    assert path is not None
    with open(path, "rb") as saved:
        assert saved.read() == card
    check_page(page, "client-mms")


def test_earlier_messages_are_a_page_away(page: Any, live: LiveStack) -> None:
    client_id = add_client(live, first_name="Ana", last_name="Sousa", phone="+12025550170")
    with live.api() as api:
        for number in range(21):
            answer = api.post(
                "/comms",
                json={"type": "sms", "client_id": client_id, "body": f"Notice number {number}."},
            )
            assert answer.status_code == 202, answer.text
    open_client(page, client_id)
    thread = page.locator("#thread li")
    expect(thread).to_have_count(20)
    expect(thread.first).to_contain_text("Notice number 1.")
    expect(thread.last).to_contain_text("Notice number 20.")
    page.get_by_role("link", name="Earlier messages").click()
    expect(page.locator("#thread li")).to_have_count(1)
    expect(page.locator("#thread li")).to_contain_text("Notice number 0.")
    # An earlier page keeps its statuses current too, and is never swapped for the newest.
    expect(page.locator("#thread li .status")).to_have_text("delivered", timeout=DELIVERY)
    expect(page.locator("#thread li")).to_have_count(1)
    page.get_by_role("link", name="Back to the newest messages").click()
    expect(page.locator("#thread li")).to_have_count(20)


def _sign_in(http: httpx.Client, live: LiveStack) -> str:
    """Sign in as a browser does (the sign-in form's token, then the session cookie), as the
    front desk; the user's id."""
    user_id = add_user(live, FRONT_DESK, "staff")
    form = http.get("/app/signin")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = http.post(
        "/app/signin", data={"csrf_token": token, "email": FRONT_DESK, "password": PASSWORD}
    )
    assert answer.status_code == 303
    return user_id


def test_a_client_page_read_is_audited_as_the_api_s_reads_are(live: LiveStack) -> None:
    phone = "+12025550179"
    client_id = add_client(live, first_name="Rosa", last_name="Delgado", phone=phone)
    with live.api() as api:
        sent = api.post(
            "/comms", json={"type": "sms", "client_id": client_id, "body": "Please call us."}
        )
    assert sent.status_code == 202, sent.text
    client_texts(live, phone, "Will do, thanks")

    with httpx.Client(base_url=live.app_url, timeout=30) as http:
        page_user = _sign_in(http, live)
        assert page_user != live.user_id
        before = last_audit_id(live)
        shown = http.get(f"/app/clients/{client_id}")
        assert shown.status_code == 200
        assert "Will do, thanks" in shown.text
        page_rows = [r for r in audit_rows_after(live, before) if r.actor_user_id == page_user]
        assert {r.client_id for r in page_rows} == {client_id}

        # The live status address writes nothing to the audit log and shows no text.
        before_live = last_audit_id(live)
        statuses = http.get(f"/app/live/clients/{client_id}/thread", params={"newest": ""})
        assert statuses.status_code == 200
        assert "Please call us" not in statuses.text
        assert "Will do" not in statuses.text
        assert statuses.json()["refresh"] is True
        assert [r for r in audit_rows_after(live, before_live) if r.actor_user_id] == []
        # An id of no client is not an empty thread.
        assert http.get(f"/app/live/clients/{'0' * 32}/thread").status_code == 404

        # A new client's form filled from a message shows the sender's number: a read.
        stranger = client_texts(live, "+12025550178", "Hi, is this the clinic?")
        with live.session() as session:
            message = session.scalars(
                select(Communication).where(Communication.provider_message_id == stranger)
            ).one()
        before_form = last_audit_id(live)
        form = http.get("/app/clients/new", params={"from_message": message.id})
        assert form.status_code == 200 and "+12025550178" in form.text
        [seen] = [r for r in audit_rows_after(live, before_form) if r.actor_user_id == page_user]
        assert (seen.action, seen.details["communication_id"]) == ("MESSAGE_VIEWED", message.id)

    before_api = last_audit_id(live)
    with live.api() as api:
        assert api.get(f"/clients/{client_id}").status_code == 200
        thread = api.get(f"/clients/{client_id}/messages")
    assert thread.status_code == 200
    api_rows = [r for r in audit_rows_after(live, before_api) if r.actor_user_id == live.user_id]

    def by_action(rows: list[Any], action: str) -> list[dict[str, Any]]:
        return [r.details for r in rows if r.action == action]

    for action in ("CLIENT_VIEWED", "MESSAGE_VIEWED"):
        assert by_action(page_rows, action) == by_action(api_rows, action), action
    [viewed] = by_action(page_rows, "MESSAGE_VIEWED")
    assert set(viewed["communication_ids"]) == {m["id"] for m in thread.json()["messages"]}
    # Opening the thread marked the client's message read, as POST /inbox/{id}/read does.
    [read] = by_action(page_rows, "MESSAGES_READ")
    assert read["marked"] == 1
    assert by_action(page_rows, "APPOINTMENTS_VIEWED") == [{"count": 0}]
