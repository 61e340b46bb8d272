"""Secrets: after the whole run, every PostgreSQL dump, SQLite file, Redis key and log the run made
is searched for the exact values it used: OAuth tokens, message bodies, passwords, API tokens,
phone numbers, email addresses, client names and dates of birth.

The areas before this one record what they used (`run.used`). This area adds a short day's work
of its own on both shapes (PostgreSQL + Redis, and SQLite with the embedded queue), so that the
search always has both to look at: a client added over the API, an SMS and an email sent, a reply
received and a STOP after it, a calendar connected, a staff member signing in with a password.

Every kind is looked for in the database files, Redis and the logs alike: a client's names,
phone, email and date of birth, the opt-out list's addresses and the addresses of messages are
encrypted (decisions 0033 to 0036), so none of them may be found anywhere.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import func, select
from tests.calendars.dance import connect, new_user
from tests.live import SANDBOX_FROM, LiveStack, wait_until

from proirp.auth.models import User
from proirp.auth.secrets import hash_password
from proirp.calendars.models import CalendarIntegration
from proirp.clients.models import OptOut
from proirp.comms.models import Communication
from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from prove.figures import Figure, count
from prove.run import KINDS, Run

AREA = "Secrets"
PLACES = {
    "database": ("database.sql", "database.sqlite", "database.sqlite-wal"),
    "Redis": ("redis.txt",),
}


def _place(path: Path) -> str:
    for place, names in PLACES.items():
        if path.name in names:
            return place
    return "logs"


def _a_days_work(run: Run, live: LiveStack) -> None:
    """Values of every kind through the product's front door, each recorded for the search."""
    tag = uuid.uuid4().hex[:8]
    first, last = f"Marisol{tag}", f"Quennevilleprove{tag}"
    phone = f"+1202555{int(tag[:4], 16) % 10_000:04d}"
    email = f"marisol.{tag}@clientmail.example.com"
    sms_body = f"Your intake papers are ready to sign {tag}"
    email_body = f"Please bring your insurance card {tag}"
    reply = f"I will be there with my sister {tag}"
    password = f"Sea-otter-paddle-{tag}"
    # A date no log's timestamp holds: the run's own are today's.
    born = f"19{50 + int(tag[:2], 16) % 40}-0{1 + int(tag[2], 16) % 9}-1{int(tag[3], 16) % 10}"
    run.used.add("client name", first, last)
    run.used.add("date of birth", born)
    run.used.add("phone number", phone)
    run.used.add("email address", email)
    run.used.add("message body", sms_body, email_body, reply)
    run.used.add("password", password)
    run.used.add("api token", live.token)
    run.used.add("provider secret", SANDBOX_TWILIO_AUTH_TOKEN, SANDBOX_SENDGRID_API_KEY)
    run.used.add("provider secret", SANDBOX_GOOGLE_CLIENT_SECRET)
    with live.api() as api:
        created = api.post(
            "/clients",
            json={
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "email": email,
                "date_of_birth": born,
                "timezone": "America/Chicago",
                "sms_consent": True,
                "email_consent": True,
                "consent_source": "intake form",
            },
        )
        created.raise_for_status()
        client_id = created.json()["client"]["id"]
        for message in (
            {"type": "sms", "client_id": client_id, "body": sms_body},
            {"type": "email", "client_id": client_id, "subject": "Intake", "body": email_body},
        ):
            api.post("/comms", json=message).raise_for_status()
    with live.sandbox() as sandbox:
        for text_sent in (reply, "STOP"):
            sandbox.post(
                "/_sandbox/inbound", json={"from": phone, "to": SANDBOX_FROM, "body": text_sent}
            ).raise_for_status()
    with live.session() as session:
        staff = session.scalars(select(User).where(User.role == "admin")).first()
        assert staff is not None
        staff.password_hash = hash_password(password)
        session.commit()
        email_of_staff = staff.email
    # A wrong password and then the right one: the first is refused, the second asks for the
    # second factor; neither may leave the password anywhere.
    for attempt in (password + "x", password):
        httpx.post(
            f"{live.app_url}/auth/login",
            json={"email": email_of_staff, "password": attempt},
            timeout=30,
        )
    token = new_user(live)
    run.used.add("api token", token)
    connect(live, token, provider="google")

    def settled() -> bool:
        with live.session() as session:
            rows = session.scalars(select(Communication)).all()
            stopped = session.scalar(select(func.count()).select_from(OptOut))
            done = all(r.status not in ("queued", "sending") for r in rows)
            return len(rows) >= 4 and done and bool(stopped)

    wait_until(settled, timeout=60, interval=0.5)
    with live.session() as session:
        for integration in session.scalars(select(CalendarIntegration)):
            run.used.add("oauth token", integration.access_token, integration.refresh_token)
            if integration.account_email:  # the clinician's account at the provider
                run.used.add("email address", integration.account_email)


# The runs of characters a value is looked up by: what names, numbers, addresses and tokens are
# made of.
WORD = re.compile(rb"[A-Za-z0-9+@._-]+")


def _key(value: bytes) -> bytes:
    """The longest run of WORD characters in a value: where it is found, the value may be."""
    return max(WORD.findall(value), key=len, default=value)


def _search(run: Run) -> dict[tuple[str, str], int]:
    """(kind, place) -> how many of the run's values of that kind were found there in clear.

    A full run keeps over 100 MB and uses tens of thousands of values, too many to look for one
    at a time: each file's words are read once, and a value is looked for in a file (exactly, as
    a substring) only when its longest word is one of the file's words."""
    files = [p for p in run.evidence.rglob("*") if p.is_file()]
    files += [p for p in run.services.postgres.folder.glob("*.log")]
    files += [p for p in run.services.redis.folder.glob("*.log")]
    by_key: dict[bytes, list[tuple[str, bytes]]] = defaultdict(list)
    for kind, values in run.used.values.items():
        for value in values:
            needle = value.encode()
            by_key[_key(needle)].append((kind, needle))
    found: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    for path in files:
        data = path.read_bytes()
        for word in set(WORD.findall(data)) & by_key.keys():
            for kind, needle in by_key[word]:
                if needle in data:
                    found[kind, _place(path)].add(needle)
    return {key: len(values) for key, values in found.items()}


PLURALS = {
    "message body": "message bodies",
    "email address": "email addresses",
    "date of birth": "dates of birth",
}


def prove(run: Run) -> list[Figure]:
    for name, sqlite in (("secrets-postgres", False), ("secrets-sqlite", True)):
        with run.stack(name, api=1, workers=1, sqlite=sqlite) as live:
            _a_days_work(run, live)
    found = _search(run)
    searched = {kind: len(run.used.values.get(kind, ())) for kind in KINDS}
    print(f"  values searched for, by kind: {searched}")
    for (kind, place), n in sorted(found.items()):
        print(f"  found in clear: {n} {kind} value(s) in {place}")
    figures = [
        count(
            AREA,
            "kinds of value the run used and searched for",
            sum(not n for n in searched.values()),
            unit="missing",
        ),
    ]
    for kind in KINDS:
        plural = PLURALS.get(kind, f"{kind}s")
        leaked = sum(found.get((kind, place), 0) for place in ("database", "Redis", "logs"))
        figures.append(count(AREA, f"{plural} found in clear (database, Redis, logs)", leaked))
    return figures
