"""The parts of SMS that need no provider: segments, PHI scanner, keywords, numbers, backoff."""

from __future__ import annotations

from datetime import date

import pytest

from proirp.clients.phi import ClientIdentity, find_phi
from proirp.comms.core.dispatch import BACKOFF_CAP_SECONDS, backoff_seconds
from proirp.comms.sms.keywords import Keyword, keyword_of
from proirp.comms.sms.recipients import NumberProblem, sms_number
from proirp.comms.sms.segments import segment_count
from proirp.comms.sms.status import map_twilio_status


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # é is in GSM-7
        ("ł" * 70, 1),  # ł is not: UCS-2
        ("ł" * 71, 2),
        ("🙂" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("🙂" * 36, 2),
    ],
)
def test_segment_count(body: str, segments: int) -> None:
    assert segment_count(body) == segments


AVERY = ClientIdentity("Avery", "Quinn", date(1990, 2, 3))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Hi Avery, please call us.", "the client's name"),
        ("A message for the Quinn family.", "the client's name"),
        ("Confirm your DOB 1990-02-03", "the client's date of birth"),
        ("Your sertraline refill is ready", "clinical information"),
        ("Your diagnosis F32.1 was updated", "a diagnosis code"),
        ("See you at 3pm", "an appointment time"),
        ("See you at 14:30", "an appointment time"),
        ("Your visit on Jan 5", "a date"),
        ("Your session with Dr. Rivera", "a clinician's name"),
        ("Please come to Room 4", "a location"),
        ("We are at 120 Main Street", "an address"),
        ("Chart # 88123 updated", "a record number"),
    ],
)
def test_phi_is_found_by_kind(text: str, kind: str) -> None:
    assert kind in find_phi(text, client=AVERY)


@pytest.mark.parametrize(
    "text",
    [
        "You have an appointment tomorrow. Please call us.",
        "Please call our office.",
        "Reminder: our office is closed on Monday.",
    ],
)
def test_generic_messages_pass(text: str) -> None:
    assert find_phi(text, client=AVERY) == []


def test_phi_findings_never_quote_the_text() -> None:
    findings = find_phi("Avery Quinn, sertraline at 3pm with Dr. Rivera", client=AVERY)
    assert findings
    assert not any(word in " ".join(findings) for word in ("Avery", "sertraline", "Rivera"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword.OPT_OUT),
        ("  stop ", Keyword.OPT_OUT),
        ("Unsubscribe", Keyword.OPT_OUT),
        ("STOPALL", Keyword.OPT_OUT),
        ("start", Keyword.OPT_IN),
        ("UNSTOP", Keyword.OPT_IN),
        ("yes", Keyword.OPT_IN),
        ("HELP", Keyword.HELP),
        ("please stop texting me", None),
        ("Thanks!", None),
    ],
)
def test_keywords(body: str, expected: Keyword | None) -> None:
    assert keyword_of(body) is expected


def test_sms_number_normalises_and_refuses() -> None:
    assert sms_number("(202) 555-0143", region="US") == "+12025550143"
    with pytest.raises(NumberProblem, match="not a valid"):
        sms_number("+1 202 555 01", region="US")
    with pytest.raises(NumberProblem, match="cannot receive SMS"):
        sms_number("+44 20 7183 8750", region="US")  # a London landline
    with pytest.raises(NumberProblem) as caught:
        sms_number("call me maybe", region="US")
    assert "call me" not in str(caught.value)


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    first = [backoff_seconds(1, None) for _ in range(50)]
    fifth = [backoff_seconds(5, None) for _ in range(50)]
    assert max(first) <= 2.0 < min(fifth)
    assert len(set(first)) > 1  # jittered
    assert backoff_seconds(1, 30.0) >= 30.0
    assert backoff_seconds(30, None) <= BACKOFF_CAP_SECONDS


def test_twilio_statuses_map_forward_and_unknown_falls_back() -> None:
    assert map_twilio_status("delivered") == "delivered"
    assert map_twilio_status("undelivered") == "undelivered"
    assert map_twilio_status("queued") == "sending"
    assert map_twilio_status("something-new") == "unknown"
