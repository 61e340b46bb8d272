"""The BAA guard's scanner: does a message body carry PHI?

Used only when the channel's provider has no signed BAA. It reports *categories* found (never the
text), so the user can be told what to change without the log or the answer repeating it.
A generic reminder ("You have an appointment tomorrow. Please call us.") passes; a name, a date of
birth, a diagnosis, a medication, or an appointment's time, clinician or place does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_CLINICAL_TERMS = (
    r"diagnos\w*|prescri\w*|medication\w*|dosage|dose|therapy|therapist|counsel\w*|psychiatr\w*|"
    r"depressi\w*|anxiety|bipolar|schizo\w*|ptsd|adhd|ocd|autism|substance|addiction|overdose|"
    r"suicid\w*|self[- ]harm|rehab\w*|detox|treatment plan|lab results?|test results?|"
    r"sertraline|fluoxetine|zoloft|prozac|lexapro|escitalopram|xanax|alprazolam|adderall|"
    r"lithium|seroquel|quetiapine|abilify|aripiprazole|wellbutrin|bupropion|suboxone|"
    r"buprenorphine|methadone|naltrexone|klonopin|clonazepam|ativan|lorazepam|trazodone"
)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("clinical information", re.compile(rf"\b(?:{_CLINICAL_TERMS})\b", re.IGNORECASE)),
    # ICD-10 codes such as F32.1 or F41.9 (a letter, two digits, a dot and more).
    ("a diagnosis code", re.compile(r"\b[A-TV-Z]\d{2}\.[0-9A-Z]{1,4}\b")),
    (
        "an appointment time",
        re.compile(
            r"\b(?:[01]?\d|2[0-3])(?::[0-5]\d)\s*(?:[ap]\.?m\.?)?|\b(?:1[0-2]|0?[1-9])\s*[ap]\.?m\.?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "a date",
        re.compile(
            r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b|"
            r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "a clinician's name",
        re.compile(r"\b(?:dr|doctor|nurse|np|lcsw|lpc|lmft|psyd)\.?\s+[A-Z][a-z]+", re.IGNORECASE),
    ),
    ("a location", re.compile(r"\b(?:room|suite|ste|floor|bldg|building)\s+#?[A-Z]?\d+\w*", re.I)),
    (
        "an address",
        re.compile(
            r"\b\d{1,6}\s+[A-Z][a-z]+\s+(?:st|street|ave|avenue|rd|road|blvd|dr|drive|lane|ln|way)\b",
            re.IGNORECASE,
        ),
    ),
    # 078-05-1120 or 078 05 1120: three, two and four digits, one separator, not inside a longer
    # run of digits and dashes (a phone number is 3-3-4, a ZIP+4 is 5-4, a date 4-2-2 or 2-2-4).
    (
        "a social security number",
        re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"),
    ),
    (
        "a record number",
        re.compile(r"\b(?:mrn|record|chart|patient id)\s*#?\s*[:\-]?\s*\w*\d\w*", re.IGNORECASE),
    ),
]


@dataclass(frozen=True)
class ClientIdentity:
    """What identifies the recipient, to look for in the text."""

    first_name: str
    last_name: str
    date_of_birth: date | None = None
    phone: str | None = None  # E.164, as the client's record keeps it
    email: str | None = None


def _name_pattern(name: str) -> re.Pattern[str] | None:
    name = name.strip()
    if len(name) < 2:
        return None
    return re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)


def _mentions(text: str, name: str) -> bool:
    """Whether `text` holds `name` as a word (a campaign asks this for each recipient)."""
    if text.isascii() and name.isascii() and name.strip().lower() not in text.lower():
        return False  # in ASCII, a match ignoring case is the name lower-cased in the text
    pattern = _name_pattern(name)
    return pattern is not None and pattern.search(text) is not None


def _mentions_phone(text: str, phone: str | None) -> bool:
    """Whether `text` holds the client's number in any common form: with or without +1 (or
    their country code), in groups separated by spaces, dots, dashes or brackets."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 8:
        return False
    numbers = _numbers_in(text)
    return digits in numbers or digits[-10:] in numbers


def _mentions_email(text: str, email: str | None) -> bool:
    """Whether `text` holds the client's address, whatever its case, as a whole address."""
    address = (email or "").strip().lower()
    if "@" not in address:
        return False
    lowered = _lowered(text)
    if address not in lowered:
        return False
    pattern = rf"(?<![\w.+-]){re.escape(address)}(?![\w-]|\.\w)"
    return re.search(pattern, lowered) is not None


def find_phi(text: str, *, client: ClientIdentity | None = None) -> list[str]:
    """The kinds of PHI found in `text`, in a stable order; empty when none."""
    found: list[str] = []
    if client is not None:
        if any(_mentions(text, name) for name in (client.first_name, client.last_name)):
            found.append("the client's name")
        dob = client.date_of_birth
        if dob is not None:
            forms = {dob.isoformat(), f"{dob.month}/{dob.day}/{dob.year}", dob.strftime("%m/%d/%Y")}
            if any(form in text for form in forms):
                found.append("the client's date of birth")
        if _mentions_phone(text, client.phone):
            found.append("the client's phone number")
        if _mentions_email(text, client.email):
            found.append("the client's email address")
    return found + list(_phi_for_anybody(text))


# A campaign's text is scanned once per recipient (for their name); what would be PHI for
# anybody is the same every time, so it is found once.
@lru_cache(maxsize=16)
def _phi_for_anybody(text: str) -> tuple[str, ...]:
    return tuple(label for label, pattern in _PATTERNS if pattern.search(text))


# Digits in groups, as numbers are typed: "+1 (202) 555-0172", "202.555.0172", "2025550172".
_DIGIT_GROUPS = re.compile(r"\d+(?:[\s.()\-\u2013]{1,3}\d+)*")
_LONGEST_NUMBER = 15  # digits in an E.164 number


@lru_cache(maxsize=16)
def _numbers_in(text: str) -> frozenset[str]:
    """Every run of whole digit groups in `text`, joined, up to an E.164 number's length: the
    numbers it could hold however they are grouped (found once for a campaign's recipients)."""
    numbers: set[str] = set()
    for match in _DIGIT_GROUPS.finditer(text):
        groups = re.findall(r"\d+", match.group())
        for start in range(len(groups)):
            joined = ""
            for end in range(start, len(groups)):
                joined += groups[end]
                if len(joined) > _LONGEST_NUMBER:
                    break
                numbers.add(joined)
    return frozenset(numbers)


@lru_cache(maxsize=16)
def _lowered(text: str) -> str:
    return text.lower()
