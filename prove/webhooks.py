"""Bad input, the webhooks: every webhook the product receives (Twilio's status callbacks and
inbound SMS, SendGrid's Event Webhook, Google's and Graph's calendar notifications) is sent
forged, stale, tampered, malformed and random requests, then genuine ones, then copies of the
genuine ones, then 10 MB bodies, over real HTTP to a production-shaped stack.

"Changed anything" is measured on the database itself: every table's rows (their count and a
digest of their content) before and after each kind of request, once the worker has had the
time to act on what the request left it. What a refusal itself records is not a change: its
audit row (WEBHOOK_REJECTED, with the reason), and the e-mail to admins when refusals pile up,
which is turned off here (tests/notices prove it) so that it is not counted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

import httpx
from sqlalchemy import inspect, text, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from tests.calendars.dance import connect, wait_for_push
from tests.live import SANDBOX_FROM, LiveStack, create_user_with_token, wait_until

from proirp.calendars.models import (
    CalendarIntegration,
    CalendarPushChannel,
    CalendarSyncStatus,
)
from proirp.calendars.push import secret_hash
from proirp.clients.models import Client
from proirp.comms.models import Communication, CommunicationEvent, StatusIntake
from proirp.kit.time import utcnow
from proirp.sandbox.config import SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
from proirp.sandbox.sendgrid.signing import sign_payload
from prove import forgery
from prove.figures import Figure, count
from prove.forgery import Hit
from prove.run import Run, api_urls

AREA = "Bad input"
PHONE = "+12025550187"
EMAIL = "avery.quennevilleprove@example.com"
LAST_NAME = "Quennevilleprove"
SECRET = "quennevilleprove-channel-token"  # noqa: S105 (the proof's own channel)
FORGED_BODY = "Whfuzzprove forged reply"


@dataclass
class World:
    """What the requests name: a client, SMS sent to them, an e-mail, a calendar channel."""

    client_id: str
    sms: list[tuple[str, str]]  # (communication id, Twilio's message sid)
    email: tuple[str, str]  # (communication id, SendGrid's message id)
    channel: dict[str, str] | None


@dataclass
class Outcome:
    sent: int = 0
    changed: int = 0  # requests in a kind of request after which the database differed
    server_errors: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def snapshot(engine: Engine) -> dict[str, str]:
    """Each table's row count and a digest of its rows; the audit log without refusals' rows
    and without the chain's columns (the chainer fills them in later)."""
    parts = []
    for table in sorted(inspect(engine).get_table_names()):
        rows = f'"{table}"'
        if table == "audit_logs":
            rows = (
                "(SELECT id, created_at, actor_user_id, action, client_id, ip, user_agent, "
                "details FROM audit_logs WHERE action <> 'WEBHOOK_REJECTED')"
            )
        parts.append(
            f"SELECT '{table}', count(*) || ' ' || md5(coalesce(string_agg(md5(t::text), '' "  # noqa: S608 (the database's own tables)
            f"ORDER BY md5(t::text)), '')) FROM {rows} t"
        )
    with engine.connect() as connection:
        return {
            name: digest for name, digest in connection.execute(text(" UNION ALL ".join(parts)))
        }


def settle(live: LiveStack) -> None:
    """Wait for the worker to apply the status callbacks kept (a second or so) and the
    calendar syncs notifications asked for."""

    def kept() -> int:
        with live.session() as session:
            return len(session.scalars(sql_select(StatusIntake.id)).all())

    def syncs_asked() -> int:
        with live.session() as session:
            asked = sql_select(CalendarPushChannel.id).where(
                CalendarPushChannel.sync_requested_at.is_not(None)
            )
            running = sql_select(CalendarSyncStatus.integration_id).where(
                CalendarSyncStatus.syncing_since.is_not(None)
            )
            return len(session.scalars(asked).all()) + len(session.scalars(running).all())

    wait_until(lambda: kept() == 0 and syncs_asked() == 0, timeout=15, interval=0.1)
    time.sleep(0.1)


def send(client: httpx.Client, hit: Hit, outcome: Outcome) -> int:
    headers = [(k.encode(), v.encode("latin-1", "replace")) for k, v in hit.headers]
    response = client.post(hit.path, content=hit.content, headers=headers)
    outcome.sent += 1
    if response.status_code >= 500:
        outcome.server_errors.append(f"{hit.kind} {hit.path[:60]} -> {response.status_code}")
    return response.status_code


@dataclass
class Watch:
    """Sends kinds of request one after another, comparing the database after each kind with
    the database before it."""

    live: LiveStack
    clients: list[httpx.Client]
    last: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        settle(self.live)
        self.last = snapshot(self.live.engine)

    def batch(self, name: str, hits: list[Hit], outcome: Outcome) -> None:
        """Send `hits` (spread over the API processes); count them all as changes if the
        database differs afterwards."""
        for n, hit in enumerate(hits):
            send(self.clients[n % len(self.clients)], hit, outcome)
        settle(self.live)
        now = snapshot(self.live.engine)
        changed = sorted(t for t in now if now[t] != self.last.get(t))
        self.last = now
        if changed:
            outcome.changed += len(hits)
            outcome.changes.append(f"{name}: {', '.join(changed)}")


def _world(live: LiveStack, run: Run) -> World:
    run.used.add("phone number", PHONE)
    run.used.add("email address", EMAIL)
    run.used.add("client name", LAST_NAME)
    run.used.add("message body", FORGED_BODY)
    with live.session() as session:
        client = Client(
            first_name="Avery",
            last_name=LAST_NAME,
            phone=PHONE,
            email=EMAIL,
            timezone="America/Chicago",
            sms_consent=True,
            email_consent=True,
        )
        session.add(client)
        session.commit()
        client_id = client.id
    live.configure_sendgrid(events=False)  # the e-mail stays sent: genuine events move it on
    ids = []
    with live.api() as api:
        for n in range(run.size(full=5, quick=2)):
            body = f"Please call our office, reference Whfuzzprove{n}."
            run.used.add("message body", body)
            ids.append(_queued(api, {"type": "sms", "client_id": client_id, "body": body}))
        body = "Our office is closed on Friday, reference Whfuzzprovemail."
        run.used.add("message body", body)
        message = {"type": "email", "client_id": client_id, "subject": "Closed", "body": body}
        ids.append(_queued(api, message))

    def sent() -> list[Communication]:
        with live.session() as session:
            rows = session.scalars(sql_select(Communication).where(Communication.id.in_(ids)))
            return [r for r in rows if r.status in ("delivered", "sent") and r.provider_message_id]

    if not wait_until(lambda: len(sent()) == len(ids), timeout=60, interval=0.2):
        raise RuntimeError("the messages the webhooks name were not sent")
    wait_until(
        lambda: all(r.status == "delivered" for r in sent() if r.channel == "sms"), timeout=30
    )
    rows = {r.id: r for r in sent()}
    sms = [(i, rows[i].provider_message_id or "") for i in ids[:-1]]
    email = (ids[-1], rows[ids[-1]].provider_message_id or "")
    return World(client_id, sms, email, _google_channel(live, run))


def _queued(api: httpx.Client, message: dict[str, str]) -> str:
    answer = api.post("/comms", json=message)
    if answer.status_code != 202:
        raise RuntimeError(f"POST /comms: {answer.status_code} {answer.text[:300]}")
    comm_id: str = answer.json()["communication"]["id"]
    return comm_id


def _google_channel(live: LiveStack, run: Run) -> dict[str, str] | None:
    """A clinician's Google calendar, connected through the sandbox's consent page, with a push
    channel whose token the proof knows."""
    _user, token = create_user_with_token(
        live.engine, email="fuzz-calendar@quennevilleprove.example.com", role="clinician"
    )
    run.used.add("api token", live.token, token)
    run.used.add("provider secret", SECRET)
    if connect(live, token).status_code >= 400:
        return None
    wait_for_push(live)
    with live.session() as session:
        for integration in session.scalars(sql_select(CalendarIntegration)):
            run.used.add("oauth token", integration.access_token, integration.refresh_token)
        row = session.scalar(
            sql_select(CalendarPushChannel).where(CalendarPushChannel.provider == "google")
        )
        if row is None or row.channel_id is None:
            return None
        session.execute(
            update(CalendarPushChannel)
            .where(CalendarPushChannel.id == row.id)
            .values(secret_hash=secret_hash(SECRET))
        )
        session.commit()
        return {
            "id": row.id,
            "channel_id": row.channel_id,
            "resource_id": row.resource_id or "",
            "number": str(row.last_message_number),
            "secret": SECRET,
        }


@dataclass
class Genuine:
    hit: Hit
    applied: Callable[[], bool]


def _genuine(live: LiveStack, run: Run, world: World) -> list[Genuine]:
    """One correctly signed, fresh, well-formed request of each webhook per message: a read
    receipt for each SMS, an SMS from the client, an open of the e-mail, a calendar change."""
    base = live.app_url
    found: list[Genuine] = []

    def event_recorded(provider_event_id: str) -> Callable[[], bool]:
        def check() -> bool:
            with live.session() as session:
                stmt = sql_select(CommunicationEvent.id).where(
                    CommunicationEvent.provider_event_id == provider_event_id
                )
                return session.scalar(stmt) is not None

        return check

    for comm_id, message_sid in world.sms:
        params = forgery.status_params(message_sid, "read", PHONE)
        hit = forgery.twilio_hit("status", base, f"{forgery.STATUS}?ref={comm_id}", params)
        found.append(Genuine(hit, event_recorded(f"twilio:{message_sid}:read")))
    for n in range(len(world.sms)):
        body = f"Quennevilleprove reply {n}: see you Tuesday"
        run.used.add("message body", body)
        inbound_sid = forgery.sid()
        params = forgery.inbound_params(inbound_sid, PHONE, SANDBOX_FROM, body)

        def stored(message_sid: str = inbound_sid) -> bool:
            with live.session() as session:
                stmt = sql_select(Communication.id).where(
                    Communication.provider_message_id == message_sid
                )
                return session.scalar(stmt) is not None

        found.append(Genuine(forgery.twilio_hit("inbound", base, forgery.INBOUND, params), stored))
    for event in ("delivered", "open"):
        event_id = forgery.sid("ev")
        item = _email_event(world, event, event_id)
        hit = forgery.sendgrid_hit("events", [item])
        found.append(Genuine(hit, event_recorded(f"sendgrid:{event_id}")))
    if world.channel is not None:
        channel = world.channel
        number = int(channel["number"]) + 1

        asked_at = utcnow()

        def noted(wanted: int = number) -> bool:
            """The notification was recorded and the sync it asked for has run."""
            with live.session() as session:
                row = session.get(CalendarPushChannel, channel["id"])
                if row is None or row.last_message_number != wanted:
                    return False
                done = session.scalar(
                    sql_select(CalendarSyncStatus.last_success_at).where(
                        CalendarSyncStatus.integration_id == row.integration_id
                    )
                )
                if done is None:
                    return False
                return (done if done.tzinfo else done.replace(tzinfo=UTC)) > asked_at

        headers = _google_headers(channel, number)
        found.append(Genuine(Hit("calendar", forgery.GOOGLE, b"", headers), noted))
    return found


def _email_event(world: World, event: str, event_id: str) -> dict[str, object]:
    comm_id, message_id = world.email
    return {
        "email": EMAIL,
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": event_id,
        "sg_message_id": f"{message_id}.filterdrecv-1-1",
        "communication_id": comm_id,
    }


def _google_headers(channel: dict[str, str], number: int) -> list[tuple[str, str]]:
    return [
        ("X-Goog-Channel-ID", channel["channel_id"]),
        ("X-Goog-Resource-ID", channel["resource_id"]),
        ("X-Goog-Resource-State", "exists"),
        ("X-Goog-Message-Number", str(number)),
        ("X-Goog-Channel-Token", channel["secret"]),
    ]


def _forged(
    live: LiveStack, world: World, rng: random.Random, randoms: int
) -> dict[str, list[Hit]]:
    """Every bad request, by kind."""
    base = live.app_url
    comm_id, message_sid = world.sms[0]
    status = forgery.status_params(message_sid, "failed", PHONE)
    inbound = forgery.inbound_params(forgery.sid(), PHONE, SANDBOX_FROM, FORGED_BODY)
    event = _email_event(world, "bounce", forgery.sid("ev"))
    hits = [
        *forgery.forged_twilio(base, f"{forgery.STATUS}?ref={comm_id}", status, rng),
        *forgery.forged_twilio(base, forgery.INBOUND, inbound, rng),
        *forgery.forged_sendgrid([event], rng),
        *forgery.forged_calendar(world.channel, rng),
    ]
    hits = [hit for hit in hits if hit.kind != "genuine"]

    def stale_sendgrid(body: bytes) -> str:
        return sign_payload(body, str(int(time.time()) - 400), SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY)

    known = {"MessageSid": message_sid, "From": PHONE, "email": EMAIL, "To": SANDBOX_FROM}
    if world.channel:
        known["channel_id"] = world.channel["channel_id"]
    by_kind: dict[str, list[Hit]] = {}
    for hit in hits:
        by_kind.setdefault(f"{hit.path.split('?')[0]}: {hit.kind}", []).append(hit)
    randoms_left = forgery.random_hits(rng, randoms, known, [stale_sendgrid])
    for start in range(0, len(randoms_left), 50):
        by_kind[f"random {start}"] = randoms_left[start : start + 50]
    return by_kind


def prove(run: Run) -> list[Figure]:
    started = time.perf_counter()

    def lap(what: str) -> None:
        print(f"  {what}: {time.perf_counter() - started:.0f} s", flush=True)

    rng = random.Random(run.size(full=7, quick=3))
    settings = {"WEBHOOK_FAILURE_ALERT_THRESHOLD": "1000000000"}
    bad, replays = Outcome(), Outcome()
    with run.stack("webhooks", settings=settings) as live:
        lap("stack started")
        world = _world(live, run)
        lap("messages sent, calendar connected")
        clients = [httpx.Client(base_url=url, timeout=30) for url in api_urls(live)]
        try:
            watch = Watch(live, clients)
            for name, hits in _forged(live, world, rng, run.size(full=600, quick=100)).items():
                watch.batch(name, hits, bad)
            lap("forged requests sent")
            genuine = _genuine(live, run, world)
            for n, item in enumerate(genuine):
                send(clients[n % len(clients)], item.hit, bad)
            # Applied at all, however slowly the machine goes (the storm area measures speed).
            missing = [
                item.hit.kind for item in genuine if not wait_until(item.applied, timeout=60)
            ]
            applied = len(genuine) - len(missing)
            watch = Watch(live, clients)
            for hit in [*(item.hit for item in genuine), *_stale_copies(world)]:
                watch.batch(f"copies of {hit.kind}", [hit, hit], replays)
            lap("genuine requests and their copies sent")
            oversized = [
                (path, declared, *forgery.stream_oversized(url, path, declared=declared))
                for path in forgery.HOOKS
                for declared, url in ((True, api_urls(live)[0]), (False, api_urls(live)[-1]))
            ]
            lap("10 MB bodies sent")
        finally:
            for client in clients:
                client.close()
    lap("stack stopped, its evidence kept")
    for kind in missing:
        print(f"  a genuine {kind} request was not applied", flush=True)
    for line in [*bad.changes, *replays.changes, *bad.server_errors, *replays.server_errors][:20]:
        print(f"  {line}", flush=True)
    refused = [
        sent
        for _path, _declared, status, sent in oversized
        if status == 413 and sent < forgery.TEN_MB
    ]
    most = max(refused, default=0) // 1024
    print(f"  oversized: {[(p, d, s, n // 1024) for p, d, s, n in oversized]}", flush=True)
    return [
        Figure(
            AREA,
            "Webhooks: forged, stale or malformed requests that changed anything",
            f"{bad.changed:,} of {bad.sent - len(genuine):,}",
            "0",
            bad.changed == 0,
        ),
        Figure(
            AREA,
            "Webhooks: correctly signed, fresh, well-formed requests applied",
            f"{applied} of {len(genuine)}",
            f"{len(genuine)} of {len(genuine)}",
            applied == len(genuine),
        ),
        Figure(
            AREA,
            "Webhooks: replayed or stale copies that changed anything",
            f"{replays.changed:,} of {replays.sent:,}",
            "0",
            replays.changed == 0,
        ),
        Figure(
            AREA,
            "Webhooks: 10 MB bodies refused before they were read whole",
            f"{len(refused)} of {len(oversized)} (413 after at most {most:,} KB sent)",
            f"{len(oversized)} of {len(oversized)}",
            len(refused) == len(oversized),
        ),
        count(
            AREA,
            "Webhooks: server errors (5xx)",
            len(bad.server_errors) + len(replays.server_errors),
        ),
    ]


def _stale_copies(world: World) -> list[Hit]:
    """A genuine e-mail event signed 6 minutes ago: SendGrid's replay window is 5."""
    item = _email_event(world, "click", forgery.sid("ev"))
    return [forgery.sendgrid_hit("stale", [item], at=time.time() - 360)]
