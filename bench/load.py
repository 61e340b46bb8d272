"""Load benchmark: signed-in staff using the API at once, as a practice's busy morning would.

The production shape on this machine: two `proirp serve` processes (the driver spreads its
connections over both, as a load balancer would), a separate `proirp worker`, PostgreSQL and the
Redis queue (or SQLite with `--database sqlite`), against `proirp sandbox` with its SMS status
callbacks on. Each user has an API token and loops over a mix: search clients, read a client,
read a thread, open the inbox, list events, send an SMS.

Three phases of `--seconds` each, measured in the same run:
  paced       each user pauses `--pause` seconds between requests (targets: 0 errors, 0
              timeouts, p99 under 1 s)
  saturation  the same users without pauses (target: throughput >= 0.6x of /healthz's)
  /healthz    the same users asking only /healthz, without pauses

Then every SMS the run sent must reach `delivered`: a status callback lost to load shows here.
    python -m bench.load [--users N] [--seconds S] [--pause P] [--database postgres|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.live import LiveStack, create_user_with_token, free_port, live_stack, wait_until

from bench.cpu import cores, cpu_seconds, stack_cpu
from bench.databases import add_database_option, use_database
from proirp.auth.secrets import hash_password
from proirp.clients.models import Client
from proirp.comms.models import Communication

CLIENTS = 1_000
TIMEOUT = 10.0  # a request that takes longer is counted as a timeout
FIRST_NAMES = ("Avery", "Quinn", "Jordan", "Riley", "Morgan")
SEARCHES = ("Bench", "Quinn", "312555", "zz-nobody", "Avery", "1")

# (weight, route, request maker); a maker gives (method, url, json body or None).
Request = tuple[str, str, Any]
Mix = list[tuple[int, str, Callable[[], Request]]]
Pick = Callable[[], tuple[str, Callable[[], Request]]]


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    refused: int = 0  # connection refused or reset

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.timeouts + self.refused

    @property
    def answered(self) -> int:
        """Requests answered with success (2xx): the throughput that counts."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500) + self.refused

    @property
    def rate(self) -> float:
        """Requests answered with success a second."""
        return self.answered / self.seconds if self.seconds else 0.0

    def quantile(self, q: float, route: str | None = None) -> float:
        values = (
            self.latencies[route]
            if route
            else [v for values in self.latencies.values() for v in values]
        )
        if len(values) < 2:
            return values[0] if values else 0.0
        return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Measured:
    """The three phases of one run, and the CPU each process spent in the saturated one."""

    paced: Phase
    saturated: Phase
    health: Phase
    cpu: dict[str, float]

    @property
    def ratio(self) -> float:
        """The mix's throughput without pauses as a share of /healthz's."""
        return self.saturated.rate / max(self.health.rate, 1e-9)

    @property
    def cpu_per_request(self) -> float:
        """CPU seconds, every process together, per request answered with success saturated."""
        return sum(self.cpu.values()) / max(self.saturated.answered, 1)


def seed_clients(
    live: LiveStack,
    *,
    count: int = CLIENTS,
    first_names: Sequence[str] = FIRST_NAMES,
    last_name: str = "Bench",
    phone_prefix: str = "+1312555",
) -> list[str]:
    """`count` clients with SMS consent, named `<first> <last_name><i>`, phones
    `<phone_prefix><i:04d>`; returns their ids."""
    with live.session() as session:
        clients = [
            Client(
                first_name=first_names[i % len(first_names)],
                last_name=f"{last_name}{i}",
                phone=f"{phone_prefix}{i:04d}",
                timezone="America/Chicago",
                sms_consent=True,
            )
            for i in range(count)
        ]
        session.add_all(clients)
        session.commit()
        return [client.id for client in clients]


def staff_tokens(
    live: LiveStack, users: int, *, email: str = "staff{}@clinic.example.com"
) -> list[str]:
    """An API token for each of `users` staff accounts (`email` with the user's number), all
    with tests.live's password, hashed once (a hash takes a third of a second here)."""
    password_hash = hash_password("x" * 16)
    return [
        create_user_with_token(
            live.engine, email=email.format(i), role="staff", password_hash=password_hash
        )[1]
        for i in range(users)
    ]


def staff_mix(
    client_ids: list[str], *, searches: Sequence[str] = SEARCHES, body: str = "See you."
) -> Mix:
    """What front-desk staff do all morning, by weight."""

    def one() -> str:
        return random.choice(client_ids)

    return [
        (30, "GET /clients?q", lambda: ("GET", f"/clients?q={random.choice(searches)}", None)),
        (20, "GET /clients/{id}", lambda: ("GET", f"/clients/{one()}", None)),
        (20, "GET /clients/{id}/messages", lambda: ("GET", f"/clients/{one()}/messages", None)),
        (10, "GET /inbox", lambda: ("GET", "/inbox", None)),
        (10, "GET /calendar/events", lambda: ("GET", "/calendar/events", None)),
        (
            10,
            "POST /comms",
            lambda: ("POST", "/comms", {"type": "sms", "client_id": one(), "body": body}),
        ),
    ]


HEALTHZ: Mix = [(1, "GET /healthz", lambda: ("GET", "/healthz", None))]


async def _user(
    base_urls: list[str], token: str, phase: Phase, pick: Pick, deadline: float, pause: float
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    base = random.choice(base_urls)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=TIMEOUT, limits=limits
    ) as client:
        await asyncio.sleep(random.uniform(0, pause))  # users do not all start at once
        while time.perf_counter() < deadline:
            route, make = pick()
            method, url, body = make()
            started = time.perf_counter()
            try:
                answer = await client.request(method, url, json=body)
            except httpx.TimeoutException:
                phase.timeouts += 1
            except httpx.TransportError:
                phase.refused += 1
            else:
                phase.statuses[answer.status_code] += 1
                phase.latencies[route].append(time.perf_counter() - started)
            if pause:
                await asyncio.sleep(pause)


async def _phase(
    phase: Phase, base_urls: list[str], tokens: list[str], pick: Pick, seconds: float, pause: float
) -> Phase:
    started = time.perf_counter()
    deadline = started + seconds
    users: list[Coroutine[Any, Any, None]] = [
        _user(base_urls, token, phase, pick, deadline, pause) for token in tokens
    ]
    await asyncio.gather(*users)
    phase.seconds = time.perf_counter() - started
    return phase


def run_phase(
    name: str, base_urls: list[str], tokens: list[str], pick: Pick, seconds: float, pause: float
) -> Phase:
    """Each token's user loops over `pick`'s requests for `seconds`, pausing `pause` between."""
    return asyncio.run(_phase(Phase(name), base_urls, tokens, pick, seconds, pause))


def picker(mix: Mix) -> Pick:
    weights = [weight for weight, _, _ in mix]

    def pick() -> tuple[str, Callable[[], Request]]:
        _, route, make = random.choices(mix, weights=weights)[0]
        return route, make

    return pick


def measure(
    base_urls: list[str],
    tokens: list[str],
    mix: Mix,
    *,
    seconds: float,
    saturation_seconds: float,
    pause: float,
    cpu: Callable[[], dict[str, float]],
) -> Measured:
    """The paced phase, the saturated one (its CPU read with `cpu`) and /healthz's, in order."""
    pick = picker(mix)
    paced = run_phase("paced", base_urls, tokens, pick, seconds, pause)
    report(paced)
    before = cpu()
    saturated = run_phase("saturation", base_urls, tokens, pick, saturation_seconds, 0)
    used = {name: spent - before[name] for name, spent in cpu().items()}
    report(saturated)
    health = run_phase("/healthz", base_urls, tokens, picker(HEALTHZ), saturation_seconds, 0)
    report(health)
    return Measured(paced, saturated, health, used)


def undelivered(live: LiveStack) -> tuple[int, int]:
    """(SMS the run queued, of those not yet delivered)."""
    with live.session() as session:
        sms = select(func.count()).select_from(Communication).where(Communication.channel == "sms")
        total = session.scalar(sms) or 0
        waiting = session.scalar(sms.where(Communication.status != "delivered")) or 0
        return total, waiting


def wait_delivered(live: LiveStack, mps: float) -> tuple[int, int]:
    """Wait for every SMS to be delivered (as long as the provider's pace needs, and two minutes
    more); (SMS the run queued, of those still not delivered)."""
    sent, _ = undelivered(live)
    wait_until(lambda: undelivered(live)[1] == 0, timeout=sent / mps + 120, interval=1)
    return undelivered(live)


def report(phase: Phase) -> None:
    other = {s: n for s, n in sorted(phase.statuses.items()) if s >= 300}
    print(
        f"  {phase.name:<11} {phase.requests:7d} requests, {phase.rate:7.1f}/s answered with"
        f" success   errors {phase.errors}"
        f"   timeouts {phase.timeouts}   p50 {phase.quantile(0.5) * 1000:6.0f} ms"
        f"   p99 {phase.quantile(0.99) * 1000:6.0f} ms   other statuses {other or '-'}",
        flush=True,
    )


def stack_cpu_of(live: LiveStack, *, postmaster: int | None = None) -> dict[str, float]:
    """CPU seconds so far of every process of the stack and of this driver; PostgreSQL's too
    (only the server whose postmaster is `postmaster`, if given)."""
    postgres = live.database_url.startswith("postgres")
    used = stack_cpu(live, tuple(live.processes), postgres=postgres, postmaster=postmaster)
    used["driver"] = cpu_seconds(os.getpid())
    return used


def report_cpu(
    used: dict[str, float], requests: int, *, what: str = "saturation: CPU per answered request"
) -> None:
    """What a request answered with success in the saturated phase cost each process in CPU (the
    refused ones' small cost included), and the most this machine's cores could answer a second
    at that cost."""
    print(f"  {what}, by process (ms), {requests:,} counted:")
    total = 0.0
    for name, seconds in used.items():
        per_request = seconds / max(requests, 1) * 1000
        total += per_request
        print(f"    {name:<9} {per_request:7.2f}")
    print(
        f"    {'all':<9} {total:7.2f}   ({cores()} cores allow {cores() * 1000 / total:.0f}"
        " requests/s at most)"
    )


def run(users: int, seconds: float, pause: float, mps: float) -> None:
    settings = {
        "TWILIO_MPS": str(mps),
        "WORKER_THREADS": "16",
        "LOG_LEVEL": "WARNING",
        "SEND_TIMEOUT_SECONDS": "10",
        "RECONCILE_AFTER_SECONDS": "30",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), settings=settings, separate_worker=True) as live,
    ):
        live.configure_sandbox(mps=mps, latency_ms=100)
        second_port = free_port()
        second = live.start("serve-2", "serve", "--port", str(second_port), "--no-embedded-worker")
        try:
            _drive(live, second_port, users, seconds, pause, mps)
        finally:
            second.stop()


def _drive(
    live: LiveStack, second_port: int, users: int, seconds: float, pause: float, mps: float
) -> None:
    second_url = f"http://127.0.0.1:{second_port}"
    live.wait_healthy(f"{second_url}/healthz")
    base_urls = [live.app_url, second_url]
    client_ids = seed_clients(live)
    tokens = staff_tokens(live, users)
    print(
        f"Load: {users} signed-in users, {seconds:g} s a phase, 2 API processes, 1 worker,"
        f" {CLIENTS:,} clients"
    )
    measured = measure(
        base_urls,
        tokens,
        staff_mix(client_ids),
        seconds=seconds,
        saturation_seconds=seconds,
        pause=pause,
        cpu=lambda: stack_cpu_of(live),
    )
    paced = measured.paced
    sent, waiting = wait_delivered(live, mps)
    with live.sandbox() as sandbox:
        callbacks = sandbox.get("/_sandbox/stats").json()

    print("  paced, p99 by route:")
    for route in sorted(paced.latencies):
        p50, p99 = paced.quantile(0.5, route) * 1000, paced.quantile(0.99, route) * 1000
        print(f"    {route:<28} p50 {p50:6.0f} ms   p99 {p99:6.0f} ms")
    p99 = paced.quantile(0.99)
    print(f"  paced: errors {paced.errors}, timeouts {paced.timeouts} (target 0 and 0)")
    print(f"  paced: p99 {p99 * 1000:.0f} ms (target < 1,000 ms)")
    print(f"  saturation / /healthz throughput: {measured.ratio:.2f} (target >= 0.60)")
    report_cpu(measured.cpu, measured.saturated.answered)
    print(f"  SMS sent by the run: {sent:,}; not delivered after the wait: {waiting} (target 0)")
    print(
        f"  status callbacks: {callbacks.get('callbacks_delivered', 0):,} answered,"
        f" {callbacks.get('callbacks_failed', 0):,} refused after the sandbox's 3 attempts"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--mps", type=float, default=500.0, help="the sandbox's SMS limit")
    add_database_option(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 1000:
        parser.error("--users must be between 1 and 1,000")
    use_database(args.database)
    run(args.users, args.seconds, args.pause, args.mps)


if __name__ == "__main__":
    main()
