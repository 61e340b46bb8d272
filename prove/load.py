"""Load: signed-in staff working through a practice's busy morning while an SMS campaign goes out
and Twilio's status callbacks come back, on the production shape (2 API processes, 2 workers,
PostgreSQL and Redis, the sandbox's callbacks on).

The driver is bench/load.py's (an asyncio httpx client per user, its connections spread over the
API processes as a load balancer would). Three phases: paced (each user pauses 2 s between
requests: 0 errors, p99 under 1 s, and p50/p99 by route), the same mix without pauses, and
/healthz without pauses (the mix's throughput as a share of it: at least 0.6). Then every SMS the
run sent, the campaign's and the staff's, must reach `delivered`.
"""

from __future__ import annotations

from pathlib import Path

from bench.load import (
    Measured,
    measure,
    report_cpu,
    seed_clients,
    stack_cpu_of,
    staff_mix,
    staff_tokens,
    wait_delivered,
)
from bench.sms_campaign import start_sms_campaign
from tests.live import LiveStack

from prove.figures import Figure, count
from prove.run import Run, api_urls

AREA = "Load"
PAUSE = 2.0
P99_TARGET = 1.0  # seconds
RATIO_TARGET = 0.6
# A practice's sending numbers together (the sandbox holds the product to it): the campaign and
# the staff's own messages share it, as they share a real number's.
MPS = 30.0
CLIENTS = 1_000
FIRST_NAMES = ("Oriellaprove", "Thibaudprove", "Yselineprove", "Corentinprove", "Maelysprove")
LAST_NAME = "Quennevilleload"
PHONE_PREFIX = "+1312557"
BODY = "Quennevilleload check: see you at your visit."
CAMPAIGN_BODY = "Office closed Monday."  # bench.sms_campaign's campaign text
STAFF_EMAIL = "quennevilleload{}@clinic.example.com"
STAFF_PASSWORD = "x" * 16  # tests.live.create_user_with_token's


def prove(run: Run) -> list[Figure]:
    users = run.size(200, 40)
    seconds = run.seconds(60, 10)
    saturation_seconds = run.seconds(20, 10)
    campaign = run.size(1_000, 300)
    # The product's own timeouts (tests.live shortens them for tests).
    settings = {
        "TWILIO_MPS": str(MPS),
        "SEND_TIMEOUT_SECONDS": "10",
        "RECONCILE_AFTER_SECONDS": "120",
    }
    with run.stack("load", settings=settings) as live:
        live.configure_sandbox(mps=MPS, latency_ms=100)
        client_ids = seed_clients(
            live,
            count=CLIENTS,
            first_names=FIRST_NAMES,
            last_name=LAST_NAME,
            phone_prefix=PHONE_PREFIX,
        )
        tokens = staff_tokens(live, users, email=STAFF_EMAIL)
        _record_used(run, live, users, tokens)
        searches = (FIRST_NAMES[0], LAST_NAME, PHONE_PREFIX[2:], "zz-nobody", FIRST_NAMES[1], "1")
        print(
            f"load: {users} signed-in staff, paced {seconds:g} s ({PAUSE:g} s pauses), then"
            f" {saturation_seconds:g} s without pauses and {saturation_seconds:g} s of /healthz;"
            f" a {campaign:,}-recipient SMS campaign at {MPS:g}/s; {CLIENTS:,} clients",
            flush=True,
        )
        start_sms_campaign(live, client_ids[:campaign])
        postmaster = postmaster_pid(run.services.postgres.folder)
        measured = measure(
            api_urls(live),
            tokens,
            staff_mix(client_ids, searches=searches, body=BODY),
            seconds=seconds,
            saturation_seconds=saturation_seconds,
            pause=PAUSE,
            cpu=lambda: stack_cpu_of(live, postmaster=postmaster),
        )
        report_cpu(measured.cpu, measured.saturated.answered)
        sent, waiting = wait_delivered(live, MPS)
        with live.sandbox() as sandbox:
            callbacks = sandbox.get("/_sandbox/stats").json()
    print(
        f"  SMS sent by the run: {sent:,}; status callbacks answered"
        f" {callbacks.get('callbacks_delivered', 0):,}, refused after the sandbox's 3 attempts"
        f" {callbacks.get('callbacks_failed', 0):,}",
        flush=True,
    )
    return _figures(measured, users, sent, waiting, callbacks.get("callbacks_failed", 0))


def _record_used(run: Run, live: LiveStack, users: int, tokens: list[str]) -> None:
    run.used.add("client name", *FIRST_NAMES, *(f"{LAST_NAME}{i}" for i in range(CLIENTS)))
    run.used.add("phone number", *(f"{PHONE_PREFIX}{i:04d}" for i in range(CLIENTS)))
    run.used.add("message body", BODY, CAMPAIGN_BODY)
    run.used.add("email address", *(STAFF_EMAIL.format(i) for i in range(users)))
    run.used.add("password", STAFF_PASSWORD)
    run.used.add("api token", live.token, *tokens)


def postmaster_pid(folder: Path) -> int:
    """The proof's own PostgreSQL server (others on the machine are not counted)."""
    return int((folder / "data" / "postmaster.pid").read_text().splitlines()[0])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _figures(
    measured: Measured, users: int, sent: int, waiting: int, callbacks_failed: int
) -> list[Figure]:
    paced = measured.paced
    errors = paced.errors + paced.timeouts
    p99 = paced.quantile(0.99)
    figures = [
        count(
            AREA,
            f"{users} staff, paced: requests failed (5xx, timeouts, refused) of {paced.requests:,}",
            errors,
        ),
        Figure(
            AREA,
            f"{users} staff, paced: p99, every request ({paced.rate:.0f}/s answered)",
            f"{_ms(p99)} (p50 {_ms(paced.quantile(0.5))})",
            f"< {_ms(P99_TARGET)}",
            p99 < P99_TARGET,
        ),
    ]
    for route in sorted(paced.latencies):
        route_p99 = paced.quantile(0.99, route)
        figures.append(
            Figure(
                AREA,
                f"paced: {route}, p50 / p99",
                f"{_ms(paced.quantile(0.5, route))} / {_ms(route_p99)}",
                f"p99 < {_ms(P99_TARGET)}",
                route_p99 < P99_TARGET,
            )
        )
    cpu_ms = measured.cpu_per_request * 1000
    figures += [
        Figure(
            AREA,
            "the same mix without pauses, as a share of /healthz's throughput",
            f"{measured.ratio:.2f} ({measured.saturated.rate:.0f}/s of"
            f" {measured.health.rate:.0f}/s; {cpu_ms:.1f} ms CPU a request)",
            f"≥ {RATIO_TARGET:.2f}",
            measured.ratio >= RATIO_TARGET,
        ),
        count(AREA, f"SMS not delivered after the wait (of {sent:,})", waiting),
        count(AREA, "status callbacks the product refused (sandbox gave up)", callbacks_failed),
    ]
    return figures
