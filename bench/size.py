"""Size: every list, search and filter endpoint at 1,000 rows and at 100,000 clients, 1,000,000
communications and 1,000,000 audit rows, through HTTP against a real `proirp serve` (with the
sandbox, as the live tests run it). Target: each within 2x its time at 1,000 rows. Then
`proirp audit verify` at that size, with its rate.

    python -m bench.size [--database postgres|sqlite] [--clients N] [--comms N] [--audits N]
                         [--runs N]

The rows are written straight into the database (bench/size_seed.py); the timings are the median
of `--runs` calls of each request, after one call to warm it."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import httpx
from tests.live import BIN, LiveStack, create_user_with_token, live_stack

from bench.databases import add_database_option, use_database
from bench.size_seed import RARE_ACTION, Seeder
from proirp.audit.keys import ChainKeyring, install_chain_keyring
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.time import utcnow

SMALL = 1_000
TARGET = 2.0


def _requests(seeder: Seeder) -> list[tuple[str, str, str]]:
    """(label, who asks: admin, clinician or reader (front desk), URL) of every list, search
    and filter."""
    # The hours of the first audit rows: the same 1,000 rows at every size.
    since, until = (f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}" for at in seeder.first_audits)
    some = seeder.clients[7]
    return [
        ("clients", "admin", "/clients"),
        ("clients, page 2", "admin", "page2:/clients"),
        ("clients (a clinician's)", "clinician", "/clients"),
        ("clients ?q= matches 5", "admin", "/clients?q=marlowe"),
        ("clients ?q= matches none", "admin", "/clients?q=Zyxwvut"),
        ("clients ?q= matches 1/8", "admin", "/clients?q=avery"),
        ("clients ?q= phone digits", "admin", "/clients?q=0000004"),
        ("clients ?q= email", "admin", "/clients?q=client3@"),
        ("clients/{id}/messages", "admin", f"/clients/{seeder.thread_client}/messages"),
        ("clients/{id}/appointments", "admin", f"/clients/{some}/appointments"),
        ("comms", "admin", "/comms"),
        ("comms, page 2", "admin", "page2:/comms"),
        ("comms (a clinician's)", "clinician", "/comms"),
        ("comms ?client_id=", "admin", f"/comms?client_id={seeder.thread_client}"),
        ("comms ?campaign_id=", "admin", f"/comms?campaign_id={seeder.campaign_id}"),
        ("comms ?status=delivered", "admin", "/comms?status=delivered"),
        ("comms ?status=failed", "admin", "/comms?status=failed"),
        ("comms ?provider_id=", "admin", f"/comms?provider_id={seeder.provider_id}"),
        ("inbox", "admin", "/inbox"),
        ("inbox (a clinician's)", "clinician", "/inbox"),
        ("inbox (read all but the oldest)", "reader", "/inbox"),
        ("inbox/unmatched", "admin", "/inbox/unmatched"),
        ("campaigns", "admin", "/campaigns"),
        ("templates", "admin", "/templates"),
        ("users", "admin", "/users"),
        ("calendar/events", "admin", "/calendar/events"),
        ("audit-logs", "admin", "/audit-logs"),
        ("audit-logs, page 2", "admin", "page2:/audit-logs"),
        ("audit-logs ?user_id=", "admin", f"/audit-logs?user_id={seeder.clinician_id}"),
        ("audit-logs ?client_id=", "admin", f"/audit-logs?client_id={some}"),
        ("audit-logs ?action= (rare)", "admin", f"/audit-logs?action={RARE_ACTION.value}"),
        ("audit-logs ?since=&until=", "admin", f"/audit-logs?since={since}&until={until}"),
    ]


def _timed(client: httpx.Client, url: str, runs: int) -> float:
    """Median ms of `runs` GETs of `url` (a `page2:` URL: the page its first page's cursor
    leads to)."""
    if url.startswith("page2:"):
        url = url.removeprefix("page2:")
        first = client.get(url)
        first.raise_for_status()
        cursor = first.json()["next_cursor"]
        assert cursor, f"{url} has one page only"
        url = f"{url}{'&' if '?' in url else '?'}cursor={cursor}"
    answer = client.get(url)  # warm: plans cached, pages read
    if answer.status_code != 200:
        raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:300]}")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(
    clients: dict[str, httpx.Client], requests: list[tuple[str, str, str]], runs: int
) -> dict[str, float]:
    return {label: _timed(clients[who], url, runs) for label, who, url in requests}


def _verify(live: LiveStack) -> str:
    answer = subprocess.run(  # noqa: S603 (our own console script)
        [str(BIN / "proirp"), "audit", "verify"],
        env=live.env,
        capture_output=True,
        text=True,
        check=False,
    )
    return (answer.stdout + answer.stderr).strip()


def run(clients: int, comms: int, audits: int, runs: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), separate_worker=True) as live,
    ):
        # The API alone is timed: no worker's sweep or job runs beside it.
        live.processes["worker"].stop()
        install_vault(Vault(live.env["PROIRP_ENCRYPTION_KEYS"].split(",")))
        install_chain_keyring(ChainKeyring(live.env["AUDIT_CHAIN_KEYS"].split(",")))
        clinician, token = create_user_with_token(
            live.engine, email="clinician@clinic.example.com", role="clinician"
        )
        reader, reader_token = create_user_with_token(
            live.engine, email="reception@clinic.example.com", role="staff"
        )
        seeder = Seeder(
            live.engine, admin_id=live.user_id, clinician_id=clinician, reader_id=reader
        )
        api = {
            "admin": live.api(),
            "clinician": live.api(token),
            "reader": live.api(reader_token),
        }
        database = live.engine.dialect.name
        _stage(f"seeding {SMALL:,} of each", lambda: seeder.grow(SMALL, SMALL, SMALL))
        requests = _requests(seeder)
        small = _measure(api, requests, runs)
        _stage(
            f"seeding to {clients:,} clients, {comms:,} messages, {audits:,} audit rows",
            lambda: seeder.grow(clients, comms, audits),
        )
        large = _measure(api, requests, runs)
        _table(database, small, large, clients, comms, audits, runs)
        print(f"proirp audit verify at {seeder.audits:,}+ audit rows: {_verify(live)}")


def _stage(what: str, step: Callable[[], None]) -> None:
    started = time.perf_counter()
    print(f"{what} ...", flush=True)
    step()
    print(f"  {time.perf_counter() - started:.0f} s", flush=True)


def _table(
    database: str,
    small: dict[str, float],
    large: dict[str, float],
    clients: int,
    comms: int,
    audits: int,
    runs: int,
) -> None:
    print(
        f"\nSize on {database} ({utcnow():%Y-%m-%d}), median of {runs} HTTP calls (ms): "
        f"{SMALL:,} rows of each, then {clients:,} clients / {comms:,} communications / "
        f"{audits:,} audit rows"
    )
    print(f"| {'endpoint':<30} | {'1k':>7} | {'large':>7} | {'ratio':>5} | target <= 2 |")
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 9}|{'-' * 7}|{'-' * 13}|")
    for label, at_small in small.items():
        ratio = large[label] / at_small
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(
            f"| {label:<30} | {at_small:>7.1f} | {large[label]:>7.1f} | {ratio:>5.2f} "
            f"| {verdict:<11} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--comms", type=int, default=1_000_000)
    parser.add_argument("--audits", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    add_database_option(parser)
    args = parser.parse_args(argv)
    if min(args.clients, args.comms, args.audits) < 2 * SMALL:
        parser.error(f"the large size must be at least {2 * SMALL:,} of each")
    use_database(args.database)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    run(args.clients, args.comms, args.audits, args.runs)


if __name__ == "__main__":
    main()
