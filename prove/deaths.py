"""Process deaths: a worker SIGKILLed mid-campaign (SMS, then email), an API process SIGKILLed
mid-request, PostgreSQL and Redis restarted mid-campaign (Redis once keeping its file, once losing
every key), and the queue filled while every worker is down. Each on a stack of its own, measured
separately: messages lost (queued but never at the provider, by the sandbox's ledgers), messages
sent twice, half-written rows, and whether `proirp audit verify` passes afterwards.

How the product recovers (comms/tasks.py): a message a dead worker had claimed stays `sending`,
and one whose job a dead process or a lost Redis took with it stays `queued`; the sweeper, run
each minute by every worker and once when a worker starts, takes rows older than
RECONCILE_AFTER_SECONDS: queued ones are enqueued again, sending SMS are looked up at Twilio
before anything is resent, sending email whose call never began is queued again (its worker
stopped before calling SendGrid), email whose call began waits for SendGrid's events and is
otherwise marked `unknown` (never resent), and campaigns whose fan-out stopped are resumed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.live import LiveStack, wait_until

from proirp.clients.models import Client
from proirp.comms.models import Communication
from prove.figures import Figure, check
from prove.outcomes import Tally, quiet
from prove.outcomes import tally as outcome_tally
from prove.run import Run, api_urls
from prove.services import private_services

AREA = "Faults"
# No client's name in a message (the guard blocks those without a BAA); a word of their own, so
# the secrets area finds them wherever they are kept.
SMS_BODY = "Marblewick notice: the office is closed Monday, please call us to reschedule."
SINGLE_SMS_BODY = "Marblewick reminder: please call our office about tomorrow."
EMAIL_SUBJECT = "Marblewick notice: the office is closed Monday"
EMAIL_TEXT = "Marblewick notice: our office is closed on Monday. Please call us to reschedule."
SINGLE_EMAIL_TEXT = "Marblewick reminder: your forms are ready, please call our office."
FIRST_NAME = "Ottiliedeaths"

MPS = 50.0  # the sending number's limit, at the sandbox and in the product alike (as bench/)
SMS_LATENCY_MS = 100
# Long enough that a worker killed mid-campaign is killed while a mail/send call is under way.
EMAIL_LATENCY_MS = 2000
SETTINGS = {
    "TWILIO_MPS": str(MPS),
    "WORKER_THREADS": "8",  # production's default
    # Production's default: a provider's answer is waited for as long as production waits.
    "SEND_TIMEOUT_SECONDS": "10",
    # A claim older than this is taken for a dead worker's, and the sweeper settles it. It must
    # outlast any live claim (the send timeout and the pacing wait), or a live send would be
    # taken for a lost one and could go twice: 20 s is the least the product allows beside a
    # 10 s timeout (twice it), so the proof is harsher than production's 120 s, which only
    # makes a dead worker's messages wait longer. The sweep runs each minute, as in production.
    "RECONCILE_AFTER_SECONDS": "20",
}
WORKERS = ("worker", "worker-2")


@dataclass
class People:
    """Clients made for a scenario, each with a phone and an address of their own."""

    ids: list[str] = field(default_factory=list)

    def take(self, n: int) -> list[str]:
        taken, self.ids = self.ids[:n], self.ids[n:]
        return taken


def _phone(i: int) -> str:
    return f"+1312555{i:04d}"  # distinct, valid numbers, as bench/


def _email(i: int) -> str:
    return f"quennevilledeaths{i}@deathsprove.example.com"


def _add_people(run: Run, live: LiveStack, n: int, *, first: int = 0) -> People:
    """`n` clients who consented to SMS and email, written straight to the database."""
    clients = [
        Client(
            first_name=FIRST_NAME,
            last_name=f"Quennevilledeaths{i}",
            phone=_phone(i),
            email=_email(i),
            timezone="America/Chicago",
            sms_consent=True,
            email_consent=True,
        )
        for i in range(first, first + n)
    ]
    for c in clients:
        run.used.add("client name", c.first_name, c.last_name)
        run.used.add("phone number", c.phone)
        run.used.add("email address", c.email)
    with live.session() as session:
        session.add_all(clients)
        session.commit()
    return People([c.id for c in clients])


def _post(url: str, live: LiveStack, path: str, body: dict[str, Any]) -> int:
    """POST as the admin; the status, or 0 when no answer came."""
    try:
        return httpx.post(f"{url}{path}", json=body, headers=live.headers, timeout=30).status_code
    except httpx.HTTPError:
        return 0


def _sms_campaign(live: LiveStack, ids: list[str], url: str | None = None) -> int:
    body = {"type": "sms", "client_ids": ids, "body": SMS_BODY}
    return _post(url or live.app_url, live, "/comms/bulk", body)


def _email_campaign(live: LiveStack, ids: list[str]) -> int:
    body = {"type": "email", "client_ids": ids, "subject": EMAIL_SUBJECT, "body": EMAIL_TEXT}
    return _post(live.app_url, live, "/comms/bulk", body)


def _single(live: LiveStack, client_id: str, channel: str, url: str | None = None) -> int:
    body: dict[str, Any] = {"client_id": client_id, "type": channel, "body": SINGLE_SMS_BODY}
    if channel == "email":
        body |= {"subject": EMAIL_SUBJECT, "body": SINGLE_EMAIL_TEXT}
    return _post(url or live.app_url, live, "/comms", body)


def _sms_sent(live: LiveStack) -> int:
    return len(live.ledger())


def _claimed(live: LiveStack) -> bool:
    with live.session() as session:
        stmt = select(func.count()).where(Communication.status == "sending")
        return (session.scalar(stmt) or 0) > 0


_starting = threading.Lock()  # a stack takes its settings from the environment as it starts


@contextmanager
def _stack(run: Run, name: str) -> Iterator[LiveStack]:
    with ExitStack() as stack:
        with _starting:
            folder = "deaths-" + "-".join(name.lower().replace("-", " ").split())
            live = stack.enter_context(run.stack(folder, settings=SETTINGS))
        live.configure_sandbox(mps=MPS, latency_ms=SMS_LATENCY_MS)
        live.configure_sendgrid(latency_ms=EMAIL_LATENCY_MS)
        yield live


def _wait_for_half(live: LiveStack, n: int) -> str:
    """Wait until half the SMS campaign is at Twilio; what the fault met."""
    wait_until(quiet(lambda: _sms_sent(live) >= n // 2), timeout=300, interval=0.1)
    return f"the fault came with {_sms_sent(live)} of {n} SMS sent"


def _restart(live: LiveStack, name: str) -> None:
    """Start a worker again, as its supervisor would once it died."""
    live.start(name, "worker")


def _busy_worker(live: LiveStack, job: str) -> str:
    """The worker whose log shows `job` started and not yet finished (else the first)."""
    for name in WORKERS:
        lines = live.processes[name].log_path.read_text(errors="replace").splitlines()
        started = sum(1 for line in lines if "Executing" in line and job in line)
        finished = sum(1 for line in lines if "executed in" in line and job in line)
        if started > finished:
            return name
    return WORKERS[0]


def worker_killed_mid_sms(run: Run, live: LiveStack) -> str:
    n = run.size(1000, 200)
    people = _add_people(run, live, n)
    _sms_campaign(live, people.ids)
    note = _wait_for_half(live, n)
    live.processes["worker-2"].kill()
    _restart(live, "worker-2")
    return note


def worker_killed_mid_email(run: Run, live: LiveStack) -> str:
    n = run.size(5000, 300)
    people = _add_people(run, live, n)
    _email_campaign(live, people.ids)
    if not wait_until(quiet(lambda: _claimed(live)), timeout=120, interval=0.05):
        raise RuntimeError("no email was claimed")
    busy = _busy_worker(live, "comms.deliver_email_batch")
    live.processes[busy].kill()
    _restart(live, busy)
    return f"{busy} killed"


def api_killed_mid_request(run: Run, live: LiveStack) -> str:
    """Clients, single messages and a campaign sent to the second API process, which is killed
    once a third of them were answered (the status callbacks go to the first)."""
    n, k = run.size(1000, 200), run.size(100, 40)
    people = _add_people(run, live, n + k)
    campaign, singles = people.take(n), people.take(k)
    url = api_urls(live)[1]

    def new_client(i: int) -> int:
        body = {"first_name": "Ottilieapi", "last_name": f"Quennevilleapi{i}"}
        body |= {"phone": _phone(9000 + i), "email": _email(9000 + i)}
        run.used.add("client name", body["first_name"], body["last_name"])
        run.used.add("phone number", body["phone"])
        run.used.add("email address", body["email"])
        consent = {"timezone": "America/Chicago", "sms_consent": True}
        consent |= {"consent_source": "intake form"}
        return _post(url, live, "/clients", {**body, **consent})

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_sms_campaign, live, campaign, url)]
        for i, client_id in enumerate(singles):
            futures.append(pool.submit(new_client, i))
            futures.append(pool.submit(_single, live, client_id, "sms", url))
        wait_until(lambda: sum(f.done() for f in futures) >= len(futures) // 3, timeout=60)
        live.processes["serve-2"].kill()
        answered = sum(f.done() for f in futures)
    statuses = Counter(f.result() for f in futures)
    return f"killed with {answered} of {len(futures)} requests answered; answers {dict(statuses)}"


def _two_campaigns(run: Run, live: LiveStack) -> int:
    """An SMS campaign and an email campaign to different clients; the SMS count."""
    n, m = run.size(1000, 200), run.size(5000, 300)
    people = _add_people(run, live, n + m)
    _sms_campaign(live, people.take(n))
    _email_campaign(live, people.take(m))
    return n


def postgres_restarted(run: Run, live: LiveStack) -> str:
    note = _wait_for_half(live, _two_campaigns(run, live))
    run.services.postgres.restart(down_for=2.0)
    return note


def redis_restarted(run: Run, live: LiveStack) -> str:
    note = _wait_for_half(live, _two_campaigns(run, live))
    run.services.redis.restart(down_for=1.0)
    return note


def redis_lost_its_data(run: Run, live: LiveStack) -> str:
    note = _wait_for_half(live, _two_campaigns(run, live))
    run.services.redis.restart(down_for=1.0, lose_data=True)
    return note


def queue_filled_while_workers_down(run: Run, live: LiveStack) -> None:
    for name in WORKERS:
        live.processes[name].stop()
    k = run.size(100, 20)
    n = _two_campaigns(run, live)
    people = _add_people(run, live, 2 * k, first=n + run.size(5000, 300))
    for client_id in people.take(k):
        _single(live, client_id, "sms")
    for client_id in people.take(k):
        _single(live, client_id, "email")
    time.sleep(2.0)  # the campaigns' fan-out jobs wait in the queue with the single sends
    for name in WORKERS:
        _restart(live, name)


KILLED_MID_EMAIL = "worker killed mid email campaign"
SCENARIOS: dict[str, Callable[[Run, LiveStack], str | None]] = {
    "worker killed mid SMS campaign": worker_killed_mid_sms,
    KILLED_MID_EMAIL: worker_killed_mid_email,
    "API process killed mid-request": api_killed_mid_request,
    "PostgreSQL restarted mid-campaign": postgres_restarted,
    "Redis restarted mid-campaign": redis_restarted,
    "Redis lost its data mid-campaign": redis_lost_its_data,
    "queue filled while every worker was down": queue_filled_while_workers_down,
}
# Scenarios run in lanes at once, each lane on a PostgreSQL and a Redis of its own (a restart
# disturbs only its own lane), one scenario after another within a lane: most of a scenario's
# time is the wait for the sweeper's next round.
LANES = [
    ["PostgreSQL restarted mid-campaign", "worker killed mid SMS campaign"],
    ["Redis restarted mid-campaign", KILLED_MID_EMAIL],
    ["Redis lost its data mid-campaign", "API process killed mid-request"],
    ["queue filled while every worker was down"],
]


def _figures(name: str, tally: Tally) -> list[Figure]:
    """One row a scenario: lost, sent twice, half-written rows, and `audit verify`."""
    verify = "passes" if tally.verified else "FAILS"
    measured = f"{tally.lost:,} / {tally.twice:,} / {tally.half_written:,} / {verify}"
    met = tally.lost == 0 and tally.twice == 0 and tally.half_written == 0 and tally.verified
    name = f"{name}: messages lost / sent twice / half-written rows / audit verify"
    return [Figure(AREA, name, measured, "0 / 0 / 0 / passes", met)]


UNREACHED = (
    "emails left unknown: their worker died between recording the call as begun and SendGrid "
    "having it"
)


def _scenario(run: Run, name: str) -> tuple[list[Figure], int]:
    """The scenario's row, and how many of its emails were left unknown unreached."""
    started = time.perf_counter()
    try:
        with _stack(run, name) as live:
            note = SCENARIOS[name](run, live)
            tally = outcome_tally(run, live)
    except Exception as exc:  # a scenario that breaks is a miss of its own; the others go on
        print(f"  {name} broke: {type(exc).__name__}: {exc}", flush=True)
        return [check(AREA, f"{name}: ran to the end", False, detail=type(exc).__name__)], 0
    if name != KILLED_MID_EMAIL and tally.unreached:
        # Only a worker killed mid-call leaves emails this way: anywhere else they are lost.
        tally = replace(tally, lost=tally.lost + tally.unreached, unreached=0)
    notes = [note] if note else []
    if tally.unreached:
        notes.append(f"{tally.unreached} emails unknown and never at SendGrid")
    took = time.perf_counter() - started
    print(f"  {name} ({took:.0f} s): {'; '.join(notes + tally.notes)}", flush=True)
    return _figures(name, tally), tally.unreached


def _lane(run: Run, names: list[str]) -> dict[str, tuple[list[Figure], int]]:
    return {name: _scenario(run, name) for name in names}


def unreached_figure(unreached: dict[str, int]) -> Figure:
    """One row for every scenario: emails the product had to leave `unknown` because the kill
    came in the moment between recording their call and the call reaching SendGrid."""
    total = sum(unreached.values())
    where = ", ".join(f"{n:,} in {name}" for name, n in unreached.items() if n)
    measured = f"{total:,}" + (f" ({where})" if where else "")
    return Figure(AREA, UNREACHED, measured, "0", total == 0)


def prove(run: Run) -> list[Figure]:
    for body in (SMS_BODY, SINGLE_SMS_BODY, EMAIL_SUBJECT, EMAIL_TEXT, SINGLE_EMAIL_TEXT):
        run.used.add("message body", body)
    results: dict[str, tuple[list[Figure], int]] = {}
    with ExitStack() as services, ThreadPoolExecutor(len(LANES)) as pool:
        runs = [run] + [
            replace(run, services=services.enter_context(private_services(folder)))
            for folder in (run.folder / f"deaths-lane-{n}" for n in range(1, len(LANES)))
        ]
        for lane in [pool.submit(_lane, r, names) for r, names in zip(runs, LANES, strict=True)]:
            results.update(lane.result())
    rows = [figure for name in SCENARIOS for figure in results[name][0]]
    return [*rows, unreached_figure({name: results[name][1] for name in SCENARIOS})]
