"""The urgent-language list: whole words, whatever the case, accents or apostrophes."""

from __future__ import annotations

import pytest

from proirp.comms.inbox.urgent import URGENT_PHRASES, is_urgent, normalise


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "KILL MYSELF",
        "i'm going to kill   myself!!",
        "Kíll myself",  # an accent typed by mistake
        "I can\u2019t do this anymore",  # a curly apostrophe
        "I cant do this anymore",
        "I cannot do this anymore",
        "I do not want to live",
        "there's no point in living",
        "thinking about suicide",
        "I've been cutting myself again",
        "honestly everyone would be better off without me",
        "I took too many pills, overdose",
        "I'm not safe at home",
    ],
)
def test_urgent(text: str) -> None:
    assert is_urgent(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm killing it at work, see you Tuesday",
        "That movie was to die for",
        "Can I reschedule? My kids are killing me today",
        "skill myself up before the interview",  # "kill myself" inside another word
        "The suicidesquad movie",  # a phrase inside a longer word is not the word
        "Running late, sorry!",
        "",
    ],
)
def test_not_urgent(text: str) -> None:
    assert not is_urgent(text)


def test_a_practice_adds_its_own_phrases() -> None:
    assert not is_urgent("I want to give up on everything")
    assert is_urgent("I want to give up on everything", ["Give up on EVERYTHING"])
    assert not is_urgent("I want to give up on everything", ["  ", "!!"])  # no empty phrase


def test_every_phrase_of_the_list_is_found_as_written() -> None:
    for phrase in URGENT_PHRASES:
        assert is_urgent(f"... {phrase} ..."), phrase
        assert normalise(phrase).strip() == phrase.replace("'", "")
