"""Create, fetch, list, stream, update and delete through the official SDK."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from proirp.sandbox.twilio.messages import count_segments
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLIENT_NUMBER,
    OTHER_NUMBER,
    OUR_NUMBER,
    RunningSandbox,
)


def error_code(exc: pytest.ExceptionInfo[TwilioRestException]) -> int:
    return int(exc.value.code)


def test_create_answers_like_twilio(sandbox: RunningSandbox, client: Client) -> None:
    message = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == ACCOUNT_SID
    assert (message.to, message.from_, message.body) == (CLIENT_NUMBER, OUR_NUMBER, "Hello")
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert message.num_media == "0"
    assert message.api_version == "2010-04-01"
    assert message.price_unit == "USD"
    assert message.error_code is None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"
    assert abs(message.date_created - datetime.now(UTC)) < timedelta(seconds=5)
    raw = requests.get(
        sandbox.messages_url(f"/{message.sid}.json"), auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ).json()
    assert parsedate_to_datetime(raw["date_created"]).utcoffset() == timedelta(0)
    assert raw["date_created"].endswith("+0000")
    [entry] = sandbox.state.ledger()
    assert entry["sid"] == message.sid and entry["status_callback"] is None


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("é" * 160, 1),  # é is in GSM-7's basic set
        ("ł" * 70, 1),  # not GSM-7: UCS-2
        ("ł" * 71, 2),
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("👍" * 35, 1),  # an emoji is two UCS-2 units
        ("👍" * 36, 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_segments_are_reported_as_a_string(client: Client) -> None:
    message = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="ł" * 71)
    assert message.num_segments == "2"


def test_fetch_follows_the_status_and_unknown_sid_is_20404(client: Client) -> None:
    sid = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="Hi").sid
    deadline = time.monotonic() + 5
    while client.messages(sid).fetch().status != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    fetched = client.messages(sid).fetch()
    assert fetched.date_sent is not None and fetched.price is not None

    with pytest.raises(TwilioRestException) as exc:
        client.messages("SM" + "0" * 32).fetch()
    assert exc.value.status == 404 and error_code(exc) == 20404


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": OUR_NUMBER, "body": "x"}, 21604),
        ({"to": CLIENT_NUMBER, "from_": OUR_NUMBER}, 21602),
        ({"to": CLIENT_NUMBER, "body": "x"}, 21603),
        ({"to": "+1234", "from_": OUR_NUMBER, "body": "x"}, 21211),
        ({"to": "not a number", "from_": OUR_NUMBER, "body": "x"}, 21211),
        ({"to": CLIENT_NUMBER, "from_": "+1-bad-!", "body": "x"}, 21212),
        ({"to": CLIENT_NUMBER, "from_": OUR_NUMBER, "body": "x" * 1601}, 21617),
        ({"to": CLIENT_NUMBER, "from_": OUR_NUMBER, "body": "x", "validity_period": 0}, 21624),
        ({"to": CLIENT_NUMBER, "from_": OUR_NUMBER, "body": "x", "validity_period": 36001}, 21624),
        ({"to": CLIENT_NUMBER, "messaging_service_sid": "MGnope", "body": "x"}, 21701),
    ],
)
def test_invalid_requests_get_twilio_codes(
    sandbox: RunningSandbox, client: Client, kwargs: dict[str, object], code: int
) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(**kwargs)
    assert exc.value.status == 400
    assert error_code(exc) == code
    assert exc.value.msg  # Twilio's message made it through
    assert sandbox.state.ledger() == []
    assert sandbox.state.stats()["rejected_4xx"] == 1


def test_body_of_exactly_1600_characters_is_accepted(client: Client) -> None:
    message = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x" * 1600)
    assert message.num_segments == str(-(-1600 // 153))


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
    ],
)
def test_magic_to_numbers(client: Client, to: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=to, from_=OUR_NUMBER, body="x")
    assert error_code(exc) == code


@pytest.mark.parametrize(
    ("from_", "code"), [("+15005550001", 21212), ("+15005550007", 21606), ("+15005550008", 21611)]
)
def test_magic_from_numbers(client: Client, from_: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=CLIENT_NUMBER, from_=from_, body="x")
    assert error_code(exc) == code


def test_other_test_range_numbers_and_formatted_numbers_are_accepted(client: Client) -> None:
    assert client.messages.create(to="+15005550006", from_=OUR_NUMBER, body="x").status == "queued"
    message = client.messages.create(to="+1 (202) 555-0123", from_=OUR_NUMBER, body="x")
    assert message.to == CLIENT_NUMBER  # normalised to E.164 as Twilio does


def test_unknown_parameter_is_refused(sandbox: RunningSandbox) -> None:
    form = {"To": CLIENT_NUMBER, "From": OUR_NUMBER, "Body": "x", "Statuscallback": "http://x"}
    response = requests.post(
        sandbox.messages_url(), data=form, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["code"] == 20001


@pytest.mark.parametrize(
    ("account_sid", "auth_token"),
    [(ACCOUNT_SID, "wrong-token"), ("AC" + "f" * 32, AUTH_TOKEN)],
)
def test_wrong_credentials_are_20003(
    sandbox: RunningSandbox, account_sid: str, auth_token: str
) -> None:
    client = sandbox.client(account_sid=account_sid, auth_token=auth_token)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x")
    assert exc.value.status == 401 and error_code(exc) == 20003
    # The SDK reports a failed page as a bare TwilioException carrying the response.
    with pytest.raises(TwilioException) as page_exc:
        client.messages.list(limit=1)
    response = page_exc.value.args[1]
    assert response.status_code == 401
    assert json.loads(response.text)["code"] == 20003
    assert sandbox.state.ledger() == []


def test_path_account_must_match_the_credentials(sandbox: RunningSandbox) -> None:
    url = sandbox.messages_url().replace(ACCOUNT_SID, "AC" + "f" * 32)
    response = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_list_filters_and_orders_newest_first(client: Client) -> None:
    first = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="1").sid
    second = client.messages.create(to=OTHER_NUMBER, from_=OUR_NUMBER, body="2").sid
    third = client.messages.create(to=CLIENT_NUMBER, from_=OTHER_NUMBER, body="3").sid

    assert [m.sid for m in client.messages.list()] == [third, second, first]
    assert [m.sid for m in client.messages.list(to=CLIENT_NUMBER)] == [third, first]
    assert [m.sid for m in client.messages.list(from_=OUR_NUMBER)] == [second, first]
    assert [m.sid for m in client.messages.list(to=CLIENT_NUMBER, limit=1)] == [third]


def test_list_filters_on_date_sent(sandbox: RunningSandbox, client: Client) -> None:
    sid = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="x").sid
    now = datetime.now(UTC)
    today = now.date().isoformat()
    hour_ago, in_an_hour = now - timedelta(hours=1), now + timedelta(hours=1)

    assert [m.sid for m in client.messages.list(date_sent_after=hour_ago)] == [sid]
    assert client.messages.list(date_sent_after=in_an_hour) == []
    assert [m.sid for m in client.messages.list(date_sent_before=in_an_hour)] == [sid]
    assert client.messages.list(date_sent_before=hour_ago) == []

    def listed(**params: str) -> list[str]:
        response = requests.get(
            sandbox.messages_url(), params=params, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
        )
        assert response.status_code == 200, response.text
        return [message["sid"] for message in response.json()["messages"]]

    assert listed(DateSent=today) == [sid]
    assert listed(**{"DateSent>": today, "DateSent<": today}) == [sid]
    assert listed(DateSent="2008-01-02") == []
    assert listed(**{"DateSent<": "2008-01-02"}) == []
    assert listed(**{"DateSent>": "Wed, 19 Jun 2019 22:04:00 -0000"}) == [sid]
    bad = requests.get(
        sandbox.messages_url(),
        params={"DateSent": "yesterday"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert bad.status_code == 400 and bad.json()["code"] == 20001


def test_stream_pages_through_twilio_relative_uris(sandbox: RunningSandbox) -> None:
    client = sandbox.client()
    sids = [
        client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body=str(n)).sid
        for n in range(7)
    ]
    streamed = [m.sid for m in client.messages.stream(page_size=3)]
    assert streamed == list(reversed(sids))
    # Three pages were fetched: the first, then two via the Twilio-relative next_page_uri.
    pages = [url for method, url in client.http_client.requests_made if method == "GET"]
    assert len(pages) == 3
    assert all(url.startswith(sandbox.api_base + "/2010-04-01/") for url in pages)

    limited = [m.sid for m in client.messages.stream(page_size=2, limit=5)]
    assert limited == list(reversed(sids))[:5]

    page = requests.get(
        sandbox.messages_url(),
        params={"PageSize": 3},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    ).json()
    assert page["page"] == 0 and page["page_size"] == 3
    assert (page["start"], page["end"]) == (0, 2)
    assert page["previous_page_uri"] is None
    assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?")
    assert "PageToken=PA" in page["next_page_uri"]
    second = requests.get(
        sandbox.api_base + page["next_page_uri"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ).json()
    assert (second["page"], second["start"], second["end"]) == (1, 3, 5)
    assert second["previous_page_uri"] is not None
    back = requests.get(
        sandbox.api_base + second["previous_page_uri"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ).json()
    assert [m["sid"] for m in back["messages"]] == [m["sid"] for m in page["messages"]]


def test_redact_and_delete(client: Client) -> None:
    sid = client.messages.create(to=CLIENT_NUMBER, from_=OUR_NUMBER, body="secret").sid
    with pytest.raises(TwilioRestException) as exc:
        client.messages(sid).delete()
    assert error_code(exc) == 20009  # still on its way

    assert client.messages(sid).update(body="").body == ""
    with pytest.raises(TwilioRestException) as exc:
        client.messages(sid).update(body="something else")
    assert error_code(exc) == 30400
    with pytest.raises(TwilioRestException) as exc:
        client.messages(sid).update(status="canceled")
    assert error_code(exc) == 30409

    deadline = time.monotonic() + 5
    while client.messages(sid).fetch().status != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.messages(sid).delete() is True
    with pytest.raises(TwilioRestException) as exc:
        client.messages(sid).fetch()
    assert error_code(exc) == 20404
