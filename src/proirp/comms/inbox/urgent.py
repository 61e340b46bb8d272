"""Urgent language: the crisis and self-harm phrases an inbound message is checked against.

A phrase matches on whole words, whatever the case, the accents or the apostrophes: "Kill
myself" and "kill   myself!" match "kill myself"; "killing it at work" does not, and neither
does "skill myself". The list below is the product's; a practice adds its own phrases in the
inbox settings. It errs towards alerting: a false alarm costs a member of staff a minute, a
missed one can cost a life.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

URGENT_PHRASES: tuple[str, ...] = (
    # Suicide
    "suicide",
    "suicidal",
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "take my own life",
    "taking my own life",
    "end it all",
    "ending it all",
    "want to die",
    "wanna die",
    "want to be dead",
    "wish i was dead",
    "wish i were dead",
    "better off dead",
    "better off without me",
    "no reason to live",
    "nothing to live for",
    "not worth living",
    "dont want to live",
    "do not want to live",
    "dont want to be alive",
    "do not want to be alive",
    "dont want to be here anymore",
    "dont want to wake up",
    "no point in living",
    "no point living",
    "want to end it",
    "cant go on",
    "cannot go on",
    "cant do this anymore",
    "cannot do this anymore",
    "cant take it anymore",
    "cannot take it anymore",
    "goodbye forever",
    "this is goodbye",
    "hang myself",
    "shoot myself",
    "jump off a bridge",
    "overdose",
    "overdosed",
    "od on",
    # Self-harm
    "hurt myself",
    "hurting myself",
    "harm myself",
    "harming myself",
    "self harm",
    "selfharm",
    "cut myself",
    "cutting myself",
    "cutting again",
    # Danger to or from others
    "kill him",
    "kill her",
    "kill them",
    "hurt someone",
    "going to hurt",
    "he will kill me",
    "she will kill me",
    "not safe at home",
    "i am not safe",
    "im not safe",
    "being abused",
)

_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, without accents or apostrophes, words separated by one space, padded with
    a space at each end so that a phrase is found on whole words by a plain `in`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _APOSTROPHES.sub("", plain)
    return " " + " ".join(_NOT_WORD.sub(" ", plain).split()) + " "


def is_urgent(text: str, extra_phrases: Iterable[str] = ()) -> bool:
    """Whether `text` holds one of the product's urgent phrases or one of `extra_phrases`."""
    words = normalise(text)
    for phrase in (*URGENT_PHRASES, *extra_phrases):
        wanted = normalise(phrase)
        if wanted.strip() and wanted in words:
            return True
    return False
