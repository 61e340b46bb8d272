"""Rows for bench/size.py, written fast: clients and communications by COPY on PostgreSQL and by
executemany on SQLite (every message's text is the same ciphertext, encrypted once; its addresses
are encrypted each, with their hashes, as the product writes them), audit rows as
the product writes them (`record_audits` on SQLite; on PostgreSQL the same unchained rows by COPY),
then chained by the product's chainer, so `proirp audit verify` checks them.

`Seeder.grow(clients, comms, audits)` adds rows until the tables hold that many; what the
benchmark reads by name (a client with a full thread, a campaign, five clients named Marlowe) is
written in the first call, so every size holds it the same."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.chainer import chain_pending
from proirp.audit.service import AuditEntry, record_audits
from proirp.clients.access_models import CareTeamMember
from proirp.clients.identity import client_pieces, keyed_address, search_key, with_hashes
from proirp.comms.inbox.tallies import recount
from proirp.comms.models import Campaign
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_session_factory
from proirp.kit.time import utcnow

FIRST = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan")
MARLOWES = 5  # clients named Marlowe at every size
THREAD = 60  # messages of the reference client: a full page and more at every size
PRACTICE_NUMBER = "+13125550000"
CLIENT_COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "timezone",
    "sms_consent",
    "email_consent",
    "reminders_opt_out",
    "created_at",
    "updated_at",
    "phone_hash",
]
ENCRYPTED = ("first_name", "last_name", "email", "phone")  # decision 0033
COMM_COLUMNS = [
    "id",
    "client_id",
    "user_id",
    "direction",
    "campaign_id",
    "channel",
    "to_address",
    "from_address",
    "body",
    "status",
    "provider",
    "provider_message_id",
    "attempts",
    "created_at",
    "updated_at",
    "to_hash",
    "from_hash",
]
# Outbound statuses, final ones (a message still `sent` would be asked after by the worker's
# sweeps): failed is the rare one.
STATUSES = ("delivered",) * 8 + ("undelivered", "failed")
ACTIONS = (
    AuditAction.CLIENT_VIEWED,
    AuditAction.CLIENTS_LISTED,
    AuditAction.SMS_QUEUED,
    AuditAction.SMS_STATUS_CHANGED,
    AuditAction.MESSAGE_VIEWED,
    AuditAction.INBOX_VIEWED,
    AuditAction.EMAIL_STATUS_CHANGED,
    AuditAction.COMMUNICATIONS_LISTED,
)
RARE_ACTION = AuditAction.CLIENT_UPDATED  # one audit row in 1,000
AUDIT_GROUP = 5_000
AUDIT_COLUMNS = [
    "created_at",
    "actor_user_id",
    "action",
    "client_id",
    "ip",
    "user_agent",
    "details",
]


def _id() -> str:
    return uuid.uuid4().hex


@dataclass
class Seeder:
    engine: Engine
    admin_id: str
    clinician_id: str
    # Front desk who has read every client's message but those of the oldest conversation: the
    # inbox's worst case (decision 0028).
    reader_id: str
    t0: datetime = field(default_factory=lambda: utcnow() - timedelta(days=400))
    clients: list[str] = field(default_factory=list)
    comms: int = 0
    audits: int = 0
    campaign_id: str = ""
    thread_client: str = ""
    provider_id: str = ""
    first_audits: tuple[datetime, datetime] = (datetime.min.replace(tzinfo=UTC),) * 2
    key: bytes = b""  # the database's key for hashes (clients/identity.py)

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def grow(self, clients: int, comms: int, audits: int) -> None:
        first = not self.clients
        self._clients(clients)
        if first:
            self._references()
        self._comms(comms)
        self._inbox()
        started = utcnow()
        self._audits(audits)
        if first:
            self.first_audits = (started, utcnow())
        self._analyze()

    # clients ---------------------------------------------------------------------------------

    def _clients(self, upto: int) -> None:
        """Clients as the product stores them: names, email and phone encrypted, with the hashes
        and pieces that find them (clients/identity.py)."""
        with Session(self.engine) as session:
            key = self.key = search_key(session)
            session.commit()
        vault = current_vault()
        rows, grams = [], []
        for i in range(len(self.clients), upto):
            clear = with_hashes(key, self._client(i))
            grams += [(gram, clear["id"]) for gram in client_pieces(key, clear)]
            sealed = {name: vault.encrypt(clear[name]) for name in ENCRYPTED}
            rows.append(tuple({**clear, **sealed}[name] for name in CLIENT_COLUMNS))
            self.clients.append(clear["id"])
        self._copy("clients", CLIENT_COLUMNS, rows)
        self._copy("client_search_grams", ["gram", "client_id"], grams)

    def _client(self, i: int) -> dict[str, Any]:
        at = self.t0 + timedelta(seconds=i * 60)
        return {
            "id": _id(),
            "first_name": FIRST[i % len(FIRST)],
            "last_name": f"Marlowe-{i}" if i < MARLOWES else f"Quinlan-{i}",
            "email": f"client{i}@example.com",
            "phone": f"+1312{i:07d}",
            "timezone": "America/Chicago",
            "sms_consent": True,
            "email_consent": True,
            "reminders_opt_out": False,
            "created_at": at,
            "updated_at": at,
        }

    def _references(self) -> None:
        """The campaign, the clinician's care team (the first 200 clients) and the client with a
        full thread: written once, the same at every size."""
        with Session(self.engine) as session:
            campaign = Campaign(
                channel="sms", created_by_user_id=self.admin_id, total=500, status="sending"
            )
            session.add(campaign)
            session.add_all(
                CareTeamMember(client_id=client_id, user_id=self.clinician_id)
                for client_id in self.clients[:200]
            )
            session.commit()
            self.campaign_id = campaign.id
        self.thread_client = self.clients[MARLOWES]
        body = current_vault().encrypt("See you on Tuesday at 10.")
        rows = [self._comm(j, self.thread_client, body, campaign=None) for j in range(THREAD)] + [
            self._comm(THREAD + j, self.clients[j], body, campaign=self.campaign_id)
            for j in range(500)
        ]
        self.provider_id = str(rows[0][11])
        self.comms += len(rows)
        self._copy("communications", COMM_COLUMNS, rows)

    # communications --------------------------------------------------------------------------

    def _comms(self, upto: int) -> None:
        body = current_vault().encrypt("See you on Tuesday at 10.")
        batch: list[tuple[Any, ...]] = []
        count = len(self.clients)
        for j in range(self.comms, upto):
            # Clients past the reference ones, so the reference client's thread stays THREAD.
            client = self.clients[MARLOWES + 1 + j % (count - MARLOWES - 1)]
            batch.append(self._comm(j, client, body, campaign=None))
            if len(batch) == 50_000:
                self._copy("communications", COMM_COLUMNS, batch)
                batch = []
        self._copy("communications", COMM_COLUMNS, batch)
        self.comms = max(self.comms, upto)

    def _comm(self, j: int, client: str, body: str, *, campaign: str | None) -> tuple[Any, ...]:
        at = self.t0 + timedelta(seconds=j * 6)
        phone = f"+1312{j % 10_000_000:07d}"
        if j % 10 == 9:  # one in ten is the client writing to the practice
            unmatched = j % 100 == 99
            return (
                _id(),
                None if unmatched else client,
                None,
                "inbound",
                None,
                "sms",
                *self._addresses(PRACTICE_NUMBER, phone),
                body,
                "received",
                "twilio",
                f"SM{j:032x}",
                0,
                at,
                at,
                keyed_address(self.key, "sms", PRACTICE_NUMBER),
                keyed_address(self.key, "sms", phone),
            )
        status = STATUSES[(j // 10) % len(STATUSES)]
        return (
            _id(),
            client,
            self.admin_id,
            "outbound",
            campaign,
            "sms",
            *self._addresses(phone, PRACTICE_NUMBER),
            body,
            status,
            "twilio",
            f"SM{j:032x}",
            1,
            at,
            at,
            keyed_address(self.key, "sms", phone),
            keyed_address(self.key, "sms", PRACTICE_NUMBER),
        )

    @staticmethod
    def _addresses(to: str, sender: str) -> tuple[str, str]:
        """A message's addresses as the product stores them: encrypted (decision 0036)."""
        vault = current_vault()
        return vault.encrypt(to), vault.encrypt(sender)

    def _inbox(self) -> None:
        """What the front desk has read, then the inbox's rows for every message written above,
        as migration 0023 fills them."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO message_reads (user_id, communication_id, read_at)"
                    " SELECT :reader, id, :now FROM communications WHERE direction = 'inbound'"
                    " AND (client_id IS NULL OR client_id <> :thread) ON CONFLICT DO NOTHING"
                ),
                {
                    "reader": self.reader_id,
                    "now": now if self.postgres else _sqlite(now),
                    "thread": self.thread_client,
                },
            )
            recount(conn)

    # audit -----------------------------------------------------------------------------------

    def _audits(self, upto: int) -> None:
        actors = [self.admin_id, self.clinician_id] + [_id() for _ in range(8)]
        while self.audits < upto:
            size = min(AUDIT_GROUP, upto - self.audits)
            entries = [self._entry(self.audits + k, actors) for k in range(size)]
            with Session(self.engine) as session:
                if self.postgres:
                    self._copy_audits(session, entries)
                else:
                    record_audits(session, entries)
                session.commit()
            self.audits += size
        # What the workers' chainer does as the rows come in.
        chain_pending(create_session_factory(self.engine))

    def _copy_audits(self, session: Session, entries: Sequence[AuditEntry]) -> None:
        """What record_audits writes (the rows' content, unchained), sent by COPY: several times
        faster on a busy machine."""
        now = utcnow()
        cursor = session.connection().connection.cursor()
        with cursor.copy(f"COPY audit_logs ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
            for entry in entries:
                copy.write_row(
                    (
                        now,
                        entry.actor,
                        entry.action.value,
                        entry.client_id,
                        entry.ip,
                        entry.user_agent,
                        json.dumps(entry.details or {}),
                    )
                )

    def _entry(self, k: int, actors: Sequence[str]) -> AuditEntry:
        client = self.clients[k % len(self.clients)] if k % 2 else None
        action = RARE_ACTION if k % 1000 == 999 else ACTIONS[k % len(ACTIONS)]
        details = {"count": k % 50}
        return AuditEntry(actors[k % len(actors)], action, client, "127.0.0.1", "bench", details)

    # writing ---------------------------------------------------------------------------------

    def _copy(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.postgres:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    [tuple(_sqlite(value) for value in row) for row in rows],
                )
            raw.commit()
        finally:
            raw.close()

    def _analyze(self) -> None:
        """As autovacuum leaves a table after a bulk of inserts: statistics, and on PostgreSQL
        the visibility map that lets index-only scans skip the table."""
        if not self.postgres:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _sqlite(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: UTC times without their offset, as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
