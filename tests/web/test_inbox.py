"""The inbox in the browser: a client's reply reaches their open thread and the inbox without
either being loaded again; urgent language puts the conversation first, marked urgent, until
someone opens it; a message from a number no client has is attached to a client created for it.
Each client message is texted through the sandbox the product mounts, as Twilio would send it."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from proirp.comms.models import Communication, Direction
from tests.factories import sent_from
from tests.live import LiveStack
from tests.web.browser import check_page
from tests.web.messaging import add_client, client_texts, mark_document, same_document

ARRIVAL = 20_000  # ms: polled every 2 to 3 seconds


def conversations(page: Any) -> Any:
    return page.locator("ul.conversations > li")


def test_a_client_s_reply_appears_in_the_open_thread_and_in_the_inbox(
    page: Any, live: LiveStack
) -> None:
    phone = "+12025550181"
    client_id = add_client(live, first_name="Lucía", last_name="Fernández", phone=phone)
    page.goto(f"/app/clients/{client_id}")
    expect(page.locator("#thread")).to_contain_text("No messages yet.")
    mark_document(page)

    client_texts(live, phone, "Running ten minutes late, sorry!")
    reply = page.locator("#thread li.inbound", has_text="Running ten minutes late, sorry!")
    expect(reply).to_be_visible(timeout=ARRIVAL)
    expect(reply).to_contain_text("From the client")
    assert same_document(page), "the thread was loaded again"
    # Shown, so read: the thread's read marks it, as POST /inbox/{id}/read would.
    client_texts(live, phone, "Parking was full.")
    expect(page.locator("#thread li.inbound", has_text="Parking was full.")).to_be_visible(
        timeout=ARRIVAL
    )
    assert same_document(page), "the thread was loaded again"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    page.wait_for_url(re.compile(r"/app/inbox$"))
    conversation = conversations(page).filter(has_text="Lucía Fernández")
    expect(conversation).to_have_count(1)
    expect(conversation).not_to_contain_text("unread")  # read in the thread already
    check_page(page, "inbox")
    conversation.get_by_role("link", name="Lucía Fernández").click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}#thread$"))


def test_the_inbox_refreshes_itself_when_a_client_writes(page: Any, live: LiveStack) -> None:
    phone = "+12025550182"
    client_id = add_client(live, first_name="Hiroshi", last_name="Tanaka", phone=phone)
    page.goto("/app/inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    mark_document(page)
    client_texts(live, phone, "Is my appointment still on?")
    conversation = conversations(page).filter(has_text="Hiroshi Tanaka")
    expect(conversation).to_be_visible(timeout=ARRIVAL)
    expect(conversation).to_contain_text("1 unread")
    assert same_document(page), "the inbox was loaded again"
    # Its thread, opened, shows the message and marks it read.
    conversation.get_by_role("link", name="Hiroshi Tanaka").click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}#thread$"))
    expect(page.locator("#thread li.inbound")).to_contain_text("Is my appointment still on?")
    expect(page.locator("#thread li.inbound .badge")).to_have_text("New")
    page.goto("/app/inbox")
    expect(conversations(page).filter(has_text="Hiroshi Tanaka")).not_to_contain_text("unread")


def test_an_urgent_message_comes_first_marked_urgent_until_its_thread_is_opened(
    page: Any, live: LiveStack
) -> None:
    urgent_phone, other_phone = "+12025550183", "+12025550184"
    client_id = add_client(live, first_name="Jordan", last_name="Whitfield", phone=urgent_phone)
    add_client(live, first_name="Elena", last_name="Marsh", phone=other_phone)
    client_texts(live, urgent_phone, "I want to kill myself")
    # A later message from someone else: the urgent conversation still comes first.
    client_texts(live, other_phone, "Can I get a receipt for last week?")

    page.goto("/app/inbox")
    first = conversations(page).first
    expect(first).to_contain_text("Jordan Whitfield")
    expect(first.locator(".badge", has_text="Urgent")).to_be_visible()
    expect(first).to_have_class(re.compile(r"\burgent\b"))
    expect(conversations(page).nth(1)).to_contain_text("Elena Marsh")
    expect(conversations(page).filter(has_text="Urgent")).to_have_count(1)
    check_page(page, "inbox-urgent")

    first.get_by_role("link", name="Jordan Whitfield").click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}#thread$"))
    expect(page.locator("#thread li.inbound")).to_contain_text("I want to kill myself")
    # The product's safety reply went to the client, and shows in the thread.
    expect(page.locator("#thread li.outbound").first).to_contain_text("Automatic safety reply")
    page.goto("/app/inbox")
    jordan = conversations(page).filter(has_text="Jordan Whitfield")
    expect(jordan).not_to_contain_text("Urgent")
    expect(jordan).not_to_have_class(re.compile(r"\burgent\b"))


def test_a_message_from_an_unknown_number_is_attached_to_a_client_created_for_it(
    page: Any, live: LiveStack
) -> None:
    phone = "+12025550185"
    client_texts(live, phone, "Hello, this is Sam on my new number.")
    client_texts(live, phone, "Can you call me back?")
    page.goto("/app/inbox#unmatched")
    items = page.locator("#unmatched li", has_text=phone)
    expect(items).to_have_count(2)  # one for each message, newest first
    item = items.first
    expect(item).to_contain_text("No client has this number.")
    check_page(page, "inbox-unmatched")
    # Its text, to know who wrote.
    item.get_by_role("link", name="Read the message").click()
    page.wait_for_url(re.compile(r"/app/inbox/messages/[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"A message from {phone}")
    expect(page.locator("li.inbound .body")).to_have_text("Can you call me back?")
    check_page(page, "inbox-message")
    page.get_by_role("link", name="Create a client with this number").click()
    page.wait_for_url(re.compile(r"/app/clients/new\?from_message=[0-9a-f]{32}$"))
    expect(page.get_by_label("Phone number")).to_have_value(phone)
    page.get_by_label("First name").fill("Sam")
    page.get_by_label("Last name").fill("Okoye")
    page.get_by_role("button", name="Create client").click()

    page.wait_for_url(re.compile(r"/app/inbox\?done=client_created#unmatched$"))
    expect(page.get_by_role("status")).to_have_text(
        "Client created. Attach the message to them below."
    )
    item = page.locator("#unmatched li", has_text=phone).first
    expect(item.get_by_label("Attach to")).to_contain_text("Sam Okoye")
    expect(item.get_by_label("All messages from this number")).to_be_checked()
    item.get_by_role("button", name="Attach").click()

    page.wait_for_url(re.compile(r"/app/clients/[0-9a-f]{32}\?done=attached#thread$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sam Okoye")
    thread = page.locator("#thread li.inbound")
    expect(thread).to_have_count(2)
    expect(thread.first).to_contain_text("Hello, this is Sam on my new number.")
    expect(thread.last).to_contain_text("Can you call me back?")
    client_id = page.url.split("/app/clients/", 1)[1].split("?", 1)[0]
    with live.session() as session:
        owners = set(
            session.scalars(
                select(Communication.client_id).where(
                    Communication.direction == Direction.INBOUND,
                    sent_from(session, phone),
                )
            )
        )
    assert owners == {client_id}
    page.goto("/app/inbox#unmatched")
    expect(page.locator("#unmatched li", has_text=phone)).to_have_count(0)


def test_a_message_is_attached_to_a_client_found_by_search(page: Any, live: LiveStack) -> None:
    """A client whose record has another number: found by name, attached this message alone."""
    phone = "+12025550186"
    client_id = add_client(live, first_name="Beatriz", last_name="Azevedo", phone="+12025550187")
    client_texts(live, phone, "Borrowed a phone, mine is dead.")
    client_texts(live, phone, "Another message from the borrowed phone.")
    page.goto("/app/inbox#unmatched")
    item = page.locator("#unmatched li", has_text=phone).first
    item.get_by_label("Find the client").fill("azevedo")
    item.get_by_role("button", name="Find").click()
    item = page.locator("#unmatched li", has_text=phone).first
    expect(item.get_by_label("Attach to")).to_contain_text("Beatriz Azevedo")
    item.get_by_label("All messages from this number").uncheck()
    item.get_by_role("button", name="Attach").click()
    page.wait_for_url(re.compile(rf"/app/clients/{client_id}\?done=attached#thread$"))
    expect(page.locator("#thread li.inbound")).to_have_count(1)
    page.goto("/app/inbox#unmatched")
    expect(page.locator("#unmatched li", has_text=phone)).to_have_count(1)


def test_an_urgent_message_from_an_unknown_number_is_read_from_the_unmatched_list(
    page: Any, live: LiveStack
) -> None:
    phone = "+12025550188"
    client_texts(live, phone, "I cant go on")
    page.goto("/app/inbox")
    first = conversations(page).first
    expect(first).to_contain_text(phone)
    expect(first.locator(".badge", has_text="Urgent")).to_be_visible()
    first.get_by_role("link").click()
    page.locator("#unmatched li", has_text=phone).get_by_role(
        "link", name="Read the message"
    ).click()
    expect(page.locator("li.inbound .body")).to_have_text("I cant go on")
    # Read, so acknowledged, as GET /comms/{id} acknowledges it.
    page.goto("/app/inbox")
    expect(conversations(page).filter(has_text=phone)).not_to_contain_text("Urgent")
