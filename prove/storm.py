"""A storm of Twilio status callbacks against the API processes: 2,000 a second for 30 s, each
signed as Twilio signs (X-Twilio-Signature over the public URL and the form), for messages that
exist.

Each message gets two callbacks, `sent` and then its final status (`delivered`, or one in ten
`undelivered` with error 30003), each to the URL the product gave Twilio (`?ref=<our id>`), sent
one right after the other so that they often arrive out of order at different API processes. The
driver is open-loop, as Twilio is: each callback goes at its own time whatever the answers before
it, on any of up to CONNECTIONS kept-alive connections per API process. Several driver processes
share the rate, each an asyncio loop writing HTTP/1.1 itself (httpx cost the shared cores too much
to come near 2,000/s), and the rate they reached is reported as measured.

Afterwards, once the product has applied every kept callback: every callback answered 2xx must be
in its message's history (none lost), every message's status and error code must be those its
answered callbacks lead to, and no answer may have taken longer than Twilio's 15 s timeout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from asyncio import Semaphore
from collections import Counter
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from bench.load import report_cpu, seed_clients, stack_cpu_of
from sqlalchemy import func, select
from tests.live import SANDBOX_FROM, LiveStack, wait_until
from twilio.request_validator import RequestValidator

from proirp.comms.core.repository import add_messages
from proirp.comms.models import Communication, CommunicationEvent, StatusIntake
from proirp.kit.db import new_id
from proirp.kit.time import utcnow
from prove.figures import Figure, count
from prove.load import postmaster_pid
from prove.run import Run, api_urls

AREA = "Load"
TWILIO_TIMEOUT = 15.0  # seconds Twilio waits for an answer
DRIVERS = 2  # driver processes sharing the rate
CONNECTIONS = 128  # each driver's connections to each API process at most
CLIENTS = 100
FIRST_NAME = "Ysoldestorm"
LAST_NAME = "Quennevillestorm"
PHONE_PREFIX = "+1312558"
BODY = "Quennevillestorm check: your visit is confirmed."
ACCOUNT_SID = "AC" + "5a" * 16
ERROR_CODE = "30003"  # Twilio: unreachable destination handset
RANK = {"sending": 0, "sent": 1, "delivered": 2, "undelivered": 2}
# The status recorded for a callback that got no answer in time, or no connection.
TIMED_OUT = 0
NO_CONNECTION = -1


@dataclass(frozen=True)
class Callback:
    """One status callback of the storm, in the order the driver sends them."""

    comm_id: str
    sid: str
    to: str
    status: str

    @property
    def path(self) -> str:
        return f"/webhooks/twilio/status?ref={self.comm_id}"

    @property
    def event_id(self) -> str:
        return f"twilio:{self.sid}:{self.status}"

    def params(self) -> dict[str, str]:
        """The form Twilio posts for a status change of one message."""
        params = {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "MessageStatus": self.status,
            "SmsStatus": self.status,
            "AccountSid": ACCOUNT_SID,
            "From": SANDBOX_FROM,
            "To": self.to,
            "ApiVersion": "2010-04-01",
        }
        if self.status == "undelivered":
            params["ErrorCode"] = ERROR_CODE
        return params


@dataclass(frozen=True)
class Answer:
    position: int  # in the storm's order
    status: int  # HTTP status, TIMED_OUT or NO_CONNECTION
    seconds: float  # from the request's start to its answer (or to the failure)
    sent_at: float  # time.time() when the driver sent it
    late: float  # seconds after its time (the driver's CPU, or all its connections busy)


def prove(run: Run) -> list[Figure]:
    rate = run.size(2_000, 200)
    seconds = run.seconds(30, 5)
    messages = int(rate * seconds) // 2
    # The product's own timeouts; the sweeper left alone (these messages are not the sandbox's).
    settings = {"SEND_TIMEOUT_SECONDS": "10", "RECONCILE_AFTER_SECONDS": "600"}
    with run.stack("storm", settings=settings) as live:
        storm = _messages(live, messages)
        run.used.add("client name", FIRST_NAME, *(f"{LAST_NAME}{i}" for i in range(CLIENTS)))
        run.used.add("phone number", *(f"{PHONE_PREFIX}{i:04d}" for i in range(CLIENTS)))
        run.used.add("message body", BODY)
        print(
            f"storm: {len(storm):,} signed status callbacks for {messages:,} messages, at"
            f" {rate:,}/s for {seconds:g} s, from {DRIVERS} driver processes to"
            f" {len(api_urls(live))} API processes",
            flush=True,
        )
        postmaster = postmaster_pid(run.services.postgres.folder)
        before = stack_cpu_of(live, postmaster=postmaster)
        answers = _drive(storm, live, rate)
        ended = time.time()
        used = {k: v - before[k] for k, v in stack_cpu_of(live, postmaster=postmaster).items()}
        applied = wait_until(lambda: _backlog(live) == 0, timeout=run.seconds(180, 60), interval=1)
        drained = time.time() - ended
        lost, wrong = _check(live, storm, answers)
    del used["driver"]  # this process only waited; the drivers are processes of their own
    report_cpu(used, len(answers), what="storm: CPU per callback sent")
    return _figures(rate, answers, lost, wrong, len(storm), messages, applied, drained)


def _messages(live: LiveStack, count: int) -> list[Callback]:
    """`count` SMS waiting for Twilio's word (as the worker leaves them once Twilio accepted
    them), and their two callbacks each, in the order the storm sends them."""
    client_ids = seed_clients(
        live,
        count=CLIENTS,
        first_names=(FIRST_NAME,),
        last_name=LAST_NAME,
        phone_prefix=PHONE_PREFIX,
    )
    table = cast(Any, Communication.__table__)
    blank = dict.fromkeys(column.name for column in table.columns)
    now = utcnow()
    rows = []
    storm = []
    for i in range(count):
        client = i % CLIENTS
        comm_id, sid, to = new_id(), f"SM{i:032x}", f"{PHONE_PREFIX}{client:04d}"
        rows.append(
            {
                **blank,
                "id": comm_id,
                "client_id": client_ids[client],
                "user_id": live.user_id,
                "direction": "outbound",
                "channel": "sms",
                "to_address": to,
                "body": BODY,
                "status": "sending",
                "provider": "twilio",
                "provider_message_id": sid,
                "segments": 1,
                "attempts": 1,
                "claimed_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        final = "undelivered" if i % 10 == 9 else "delivered"
        storm += [Callback(comm_id, sid, to, status) for status in ("sent", final)]
    with live.session() as session:
        add_messages(session, rows)  # with the addresses' hashes, as a campaign's chunk
        session.commit()
    return storm


def _drive(storm: list[Callback], live: LiveStack, rate: float) -> list[Answer]:
    """The storm from DRIVERS processes, each sending every DRIVERS-th callback at its time."""
    context = multiprocessing.get_context("spawn")
    ready: Queue[int] = context.Queue()
    results: Queue[list[Answer]] = context.Queue()
    start = context.Value("d", 0.0)
    drivers = [
        context.Process(
            daemon=True,  # gone with the proof, should it break
            target=_driver,
            args=(
                n,
                [(p, c.path, c.params()) for p, c in enumerate(storm) if p % DRIVERS == n],
                api_urls(live),
                live.env["PUBLIC_BASE_URL"],
                live.env["TWILIO_AUTH_TOKEN"],
                rate,
                start,
                ready,
                results,
            ),
        )
        for n in range(DRIVERS)
    ]
    for driver in drivers:
        driver.start()
    for _ in drivers:
        ready.get(timeout=120)
    with start.get_lock():
        start.value = time.time() + 0.5
    answers: list[Answer] = []
    for _ in drivers:
        answers.extend(results.get(timeout=len(storm) / rate + 4 * TWILIO_TIMEOUT + 60))
    for driver in drivers:
        driver.join(30)
    return sorted(answers, key=lambda answer: answer.position)


def _driver(
    n: int,
    part: list[tuple[int, str, dict[str, str]]],
    urls: list[str],
    public_base: str,
    auth_token: str,
    rate: float,
    start: Synchronized[float],
    ready: Queue[int],
    results: Queue[list[Answer]],
) -> None:
    """One driver process: sign its part and write each request out first, then send each at
    its time."""
    validator = RequestValidator(auth_token)
    signed = []
    for position, path, params in part:
        url = urls[position // DRIVERS % len(urls)]  # round robin, as a balancer would
        signature = validator.compute_signature(public_base + path, params)
        signed.append((position, url, _request(url, path, urlencode(params), signature)))
    ready.put(n)
    while start.value == 0.0:
        time.sleep(0.01)
    results.put(asyncio.run(_send_all(signed, urls, start.value, rate)))


def _request(url: str, path: str, body: str, signature: str) -> bytes:
    """The bytes of one callback's HTTP/1.1 request, as Twilio's proxy sends it."""
    host = urlsplit(url).netloc
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TwilioProxy/1.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


class Lane:
    """Up to CONNECTIONS kept-alive connections to one API process. The driver speaks HTTP/1.1
    itself over asyncio streams: an HTTP client library's own work per request would take the
    two cores the API processes need long before the storm's rate."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.free = Semaphore(CONNECTIONS)

    async def post(self, request: bytes) -> tuple[int, float, float]:
        """(The answer's HTTP status, TIMED_OUT or NO_CONNECTION; when it was sent, by
        time.time(); the seconds it took), once a connection is free."""
        async with self.free:
            sent_at = time.time()
            started = time.perf_counter()
            connection = None
            try:
                async with asyncio.timeout(TWILIO_TIMEOUT):
                    connection = self.idle.pop() if self.idle else await self._open()
                    status, keep = await _exchange(*connection, request)
            except TimeoutError:
                status, keep = TIMED_OUT, False
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, keep = NO_CONNECTION, False
            if connection is not None:
                if keep:
                    self.idle.append(connection)
                else:
                    connection[1].close()
            return status, sent_at, time.perf_counter() - started

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send `request`, read its answer whole; (status, whether the connection stays open)."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    if status not in (204, 304) and b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif b"chunked" in headers.get(b"transfer-encoding", b""):
        while size := int((await reader.readline()).strip() or b"0", 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    return status, headers.get(b"connection", b"").strip() != b"close"


async def _send_all(
    signed: list[tuple[int, str, bytes]], urls: list[str], start: float, rate: float
) -> list[Answer]:
    lanes = {url: Lane(url) for url in urls}
    tasks = []
    try:
        for position, url, request in signed:
            due = start + position / rate
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(_post(lanes[url], position, due, request)))
        return list(await asyncio.gather(*tasks))
    finally:
        for lane in lanes.values():
            lane.close()


async def _post(lane: Lane, position: int, due: float, request: bytes) -> Answer:
    status, sent_at, seconds = await lane.post(request)
    return Answer(position, status, seconds, sent_at, sent_at - due)


def _backlog(live: LiveStack) -> int:
    with live.session() as session:
        return session.scalar(select(func.count()).select_from(StatusIntake)) or 0


def _check(live: LiveStack, storm: list[Callback], answers: list[Answer]) -> tuple[int, int]:
    """(callbacks answered 2xx but not in their message's history, messages whose status or
    error code is not what their answered callbacks lead to)."""
    taken = [storm[a.position] for a in answers if 200 <= a.status < 300]
    expected: dict[str, str] = {}
    for callback in storm:
        expected.setdefault(callback.comm_id, "sending")
    for callback in taken:
        if RANK[callback.status] > RANK[expected[callback.comm_id]]:
            expected[callback.comm_id] = callback.status
    with live.session() as session:
        seen = set(
            session.scalars(
                select(CommunicationEvent.provider_event_id).where(
                    CommunicationEvent.provider_event_id.is_not(None)
                )
            )
        )
        found = {
            comm_id: (status, error_code)
            for comm_id, status, error_code in session.execute(
                select(Communication.id, Communication.status, Communication.error_code)
            )
        }
    lost = sum(1 for callback in taken if callback.event_id not in seen)
    wrong = sum(
        1
        for comm_id, status in expected.items()
        if found.get(comm_id) != (status, ERROR_CODE if status == "undelivered" else None)
    )
    return lost, wrong


def _figures(
    rate: int,
    answers: list[Answer],
    lost: int,
    wrong: int,
    callbacks: int,
    messages: int,
    applied: bool,
    drained: float,
) -> list[Figure]:
    sent = sorted(answer.sent_at for answer in answers)
    span = max(sent[-1] - sent[0], 1e-9) if sent else 1.0
    offered = (len(sent) - 1) / span  # the gaps between the first and the last
    statuses = Counter(answer.status for answer in answers)
    taken = sum(n for status, n in statuses.items() if 200 <= status < 300)
    slow = sum(1 for a in answers if a.status == TIMED_OUT or a.seconds > TWILIO_TIMEOUT)
    times = sorted(answer.seconds for answer in answers)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0
    lag = sorted(answer.late for answer in answers)
    refused = {status: n for status, n in sorted(statuses.items()) if not 200 <= status < 300}
    print(
        f"  {len(answers):,} callbacks sent in {span:.1f} s ({offered:,.0f}/s); answers"
        f" {dict(sorted(statuses.items()))}; p50 {times[len(times) // 2] * 1000:,.0f} ms,"
        f" p99 {p99 * 1000:,.0f} ms; sent after their time: p50"
        f" {lag[len(lag) // 2] * 1000:,.0f} ms, p99 {lag[int(len(lag) * 0.99)] * 1000:,.0f} ms;"
        f" every kept callback applied {drained:.1f} s after the"
        f" storm" + ("" if applied else " (not all: the wait ended)"),
        flush=True,
    )
    return [
        Figure(
            AREA,
            "storm: signed status callbacks offered a second (rate reached by the driver)",
            f"{offered:,.0f}/s for {span:.0f} s ({callbacks:,} for {messages:,} SMS)",
            f"≥ {rate * 0.95:,.0f}/s ({rate:,}/s, 5 % slack)",
            offered >= rate * 0.95,
        ),
        count(AREA, f"storm: callbacks answered 2xx but lost (of {taken:,})", lost),
        count(AREA, "storm: SMS whose status is wrong afterwards", wrong),
        count(
            AREA,
            "storm: callbacks refused (not 2xx: left to Twilio's retries and the follow-up)",
            sum(refused.values()),
        ),
        count(AREA, f"storm: answers slower than Twilio's {TWILIO_TIMEOUT:.0f} s timeout", slow),
        Figure(
            AREA,
            "storm: p99 answer time",
            f"{p99 * 1000:,.0f} ms",
            f"< {TWILIO_TIMEOUT * 1000:,.0f} ms",
            p99 < TWILIO_TIMEOUT,
        ),
        _applied(applied, drained),
    ]


def _applied(applied: bool, drained: float) -> Figure:
    return Figure(
        AREA,
        "storm: every kept callback applied, seconds after the storm",
        f"{drained:.1f} s" if applied else f"not all after {drained:.0f} s",
        "all applied",
        applied,
    )
