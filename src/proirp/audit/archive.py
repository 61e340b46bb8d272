"""An audit archive: the rows of a period exactly as chained, one JSON line each, between a
header and a seal signed with the chain key, so that anyone holding the chain keys can check it
years later without the database.

    {"archive": "proirp audit log", "version": 1, "since": ..., "until": ..., ...}   the header
    {"row": {"id": ..., "created_at": ..., ..., "key_id": ..., "prev_hash": ..., "hash": ...}}
    ...
    {"seal": {"first_id", "first_prev_hash", "last_id", "last_hash", "rows", "since", "until",
              "sealed_at", "key_id", "mac"}}                                       the seal

The seal is the anchor of the last row, and also fixes where the archive starts (the first row
and the hash it links to, the hash of the row before the period: the previous archive's last)
and how many rows it holds. A changed row no longer matches its hash, a removed row breaks the
link of the row after it, a removed tail no longer reaches the sealed last row, removed first
rows no longer start at the sealed first one, and a seal changed or made without a chain key is
not signed by one. Problems name rows by id and lines by number: never a row's content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.chain import canonical_row, row_hash
from proirp.audit.keys import ChainKey, ChainKeyring
from proirp.audit.models import AuditLog
from proirp.kit.time import utcnow

FORMAT = "proirp audit log"
VERSION = 1
_HASH = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_ROW_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": int,
    "created_at": str,
    "actor_user_id": (str, type(None)),
    "action": str,
    "client_id": (str, type(None)),
    "ip": (str, type(None)),
    "user_agent": (str, type(None)),
    "details": dict,
    "key_id": str,
    "prev_hash": str,
    "hash": str,
}


class ArchiveError(Exception):
    """The archive cannot be made (no rows in the period, the chain broken in it)."""


@dataclass(frozen=True)
class Seal:
    first_id: int
    first_prev_hash: str
    last_id: int
    last_hash: str
    rows: int
    since: datetime
    until: datetime
    sealed_at: datetime
    key_id: str
    mac: str = ""

    def message(self) -> str:
        times = (self.since, self.until, self.sealed_at)
        since, until, sealed_at = (_iso(moment) for moment in times)
        return (
            f"proirp audit archive\n{self.first_id}\n{self.first_prev_hash}\n{self.last_id}\n"
            f"{self.last_hash}\n{self.rows}\n{since}\n{until}\n{sealed_at}\n{self.key_id}"
        )

    def signed_with(self, key: ChainKey) -> Seal:
        unsigned = replace(self, key_id=key.key_id, mac="")
        return replace(unsigned, mac=key.sign(unsigned.message()))

    def is_authentic(self, keyring: ChainKeyring) -> bool:
        key = keyring.get(self.key_id)
        return key is not None and key.signed(self.message(), self.mac)

    def to_json(self) -> dict[str, Any]:
        return {
            "first_id": self.first_id,
            "first_prev_hash": self.first_prev_hash,
            "last_id": self.last_id,
            "last_hash": self.last_hash,
            "rows": self.rows,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "sealed_at": _iso(self.sealed_at),
            "key_id": self.key_id,
            "mac": self.mac,
        }


@dataclass(frozen=True)
class ArchiveReport:
    ok: bool
    rows_checked: int
    problem: str | None = None
    first_id: int | None = None
    last_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def export_archive(
    session: Session,
    out: IO[bytes],
    *,
    keyring: ChainKeyring,
    since: datetime,
    until: datetime,
    batch_size: int = 1000,
) -> Seal:
    """Write the rows created in [since, until) to `out` as an archive, checking each as it
    goes (a broken chain is never sealed); returns the seal. Raises ArchiveError."""
    chained = AuditLog.seq.is_not(None)
    first_seq = session.scalar(
        select(func.min(AuditLog.seq)).where(chained, AuditLog.created_at >= since)
    )
    last_seq = session.scalar(
        select(func.max(AuditLog.seq)).where(chained, AuditLog.created_at < until)
    )
    if first_seq is None or last_seq is None or first_seq > last_seq:
        raise ArchiveError(f"no audit rows were written between {_iso(since)} and {_iso(until)}")
    header = {"archive": FORMAT, "version": VERSION, "since": _iso(since), "until": _iso(until)}
    out.write(_line(header))
    # In the chain's order: from the first row of the period to its last, every row between
    # (a row that committed late may have been chained just outside its period's time).
    rows = session.execute(
        select(AuditLog)
        .where(AuditLog.seq >= first_seq, AuditLog.seq <= last_seq)
        .order_by(AuditLog.seq)
        .execution_options(yield_per=batch_size)
    ).scalars()
    checker = _Checker(keyring)
    first_prev_hash = ""
    first_id = last_id = 0
    for row in rows:
        fields = _row_fields(row)
        if checker.count == 0:
            first_id, first_prev_hash = row.id, str(row.prev_hash)
            checker.expected_prev = first_prev_hash
        last_id = row.id
        problem = checker.check(fields)
        if problem:
            raise ArchiveError(
                f"row {row.id}: {problem}; nothing is sealed (run `proirp audit verify`)"
            )
        out.write(_line({"row": fields}))
    seal = Seal(
        first_id=first_id,
        first_prev_hash=first_prev_hash,
        last_id=last_id,
        last_hash=checker.expected_prev,
        rows=checker.count,
        since=since,
        until=until,
        sealed_at=utcnow(),
        key_id="",
    ).signed_with(keyring.current)
    out.write(_line({"seal": seal.to_json()}))
    return seal


def verify_archive(lines: Iterable[bytes], keyring: ChainKeyring) -> ArchiveReport:
    """Check every row of an archive (its hash under a configured key, its link to the row before
    it), then its seal (signed by a chain key, and naming the first and last rows found)."""
    checker = _Checker(keyring)
    numbered = enumerate(_text_lines(lines), start=1)
    header = _parse(next(numbered, (1, ""))[1])
    if not isinstance(header, dict) or header.get("archive") != FORMAT:
        return ArchiveReport(False, 0, "line 1 is not the header of an audit archive")
    if header.get("version") != VERSION:
        return ArchiveReport(False, 0, f"archive version {header.get('version')!r} is not known")
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    for number, line in numbered:
        entry = _parse(line)
        if isinstance(entry, dict) and "seal" in entry:
            problem = _check_seal(entry["seal"], header, first, last, checker, keyring)
            extra = next(numbered, None)
            if problem is None and extra is not None:
                problem = f"line {extra[0]} follows the seal (something was added after sealing)"
            return _report(problem, checker, first, last, header)
        fields = _well_formed(entry.get("row") if isinstance(entry, dict) else None)
        if fields is None:
            return _report(f"line {number} is not an audit row (damaged)", checker, first, last)
        if first is None:
            first = fields
            checker.expected_prev = fields["prev_hash"]
        problem = checker.check(fields)
        if problem:
            return _report(f"row {fields['id']} (line {number}) {problem}", checker, first, last)
        last = fields
    ends = "it holds no rows" if last is None else f"its last row is {last['id']}"
    return _report(
        f"the archive has no seal ({ends}): it was cut short, or never finished",
        checker,
        first,
        last,
    )


class _Checker:
    """The chain, row after row: each follows the one before, its hash is its content signed
    with a configured key, and no row is signed with an older key than the one before it."""

    def __init__(self, keyring: ChainKeyring) -> None:
        self.keyring = keyring
        self.expected_prev = ""
        self.last_age: int | None = None
        self.count = 0

    def check(self, fields: dict[str, Any]) -> str | None:
        if fields["prev_hash"] != self.expected_prev:
            return "does not follow the row before it (a row was removed, inserted or reordered)"
        key_id = fields["key_id"]
        key, age = self.keyring.get(key_id), self.keyring.age(key_id)
        if key is None or age is None:
            shown = key_id if _KEY_ID.fullmatch(key_id) else "unreadable"
            return f"is signed with a key that is not configured (key id {shown})"
        if self.last_age is not None and age > self.last_age:
            return "is signed with an older key than the row before it"
        try:
            created_at = datetime.fromisoformat(fields["created_at"])
        except ValueError:
            return "has a creation time that is not one (damaged)"
        canonical = canonical_row(
            created_at=created_at,
            actor_user_id=fields["actor_user_id"],
            action=fields["action"],
            client_id=fields["client_id"],
            ip=fields["ip"],
            user_agent=fields["user_agent"],
            details=fields["details"],
        )
        if row_hash(key, fields["prev_hash"], canonical) != fields["hash"]:
            return "content does not match its hash (edited)"
        self.expected_prev, self.last_age = fields["hash"], age
        self.count += 1
        return None


def _check_seal(
    raw: object,
    header: dict[str, Any],
    first: dict[str, Any] | None,
    last: dict[str, Any] | None,
    checker: _Checker,
    keyring: ChainKeyring,
) -> str | None:
    seal = _seal_from_json(raw)
    if seal is None:
        return "the seal is damaged (not a seal)"
    if not seal.is_authentic(keyring):
        return "the seal is not signed by a configured chain key (forged, or changed)"
    if (_iso(seal.since), _iso(seal.until)) != (header.get("since"), header.get("until")):
        return "the header's period is not the sealed one (changed)"
    if last is None or first is None:
        return f"the archive holds no rows, but its seal names rows {seal.first_id}-{seal.last_id}"
    if (first["id"], first["prev_hash"]) != (seal.first_id, seal.first_prev_hash):
        return (
            f"the archive starts at row {first['id']}, but its seal names row {seal.first_id} "
            "as its first: rows were removed from the start"
        )
    if (last["id"], last["hash"]) != (seal.last_id, seal.last_hash):
        return (
            f"the archive ends at row {last['id']}, but its seal names row {seal.last_id} "
            "as its last: rows were removed from the end (truncated)"
        )
    if checker.count != seal.rows:
        return f"the archive holds {checker.count} rows, but its seal says {seal.rows}"
    return None


def _report(
    problem: str | None,
    checker: _Checker,
    first: dict[str, Any] | None,
    last: dict[str, Any] | None,
    header: dict[str, Any] | None = None,
) -> ArchiveReport:
    since = until = None
    if header is not None:
        since, until = _time(header.get("since")), _time(header.get("until"))
    return ArchiveReport(
        ok=problem is None,
        rows_checked=checker.count,
        problem=problem,
        first_id=first["id"] if first else None,
        last_id=last["id"] if last else None,
        since=since,
        until=until,
    )


def _row_fields(row: AuditLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": _iso(row.created_at),
        "actor_user_id": row.actor_user_id,
        "action": row.action,
        "client_id": row.client_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "details": row.details,
        "key_id": row.key_id,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def _well_formed(fields: object) -> dict[str, Any] | None:
    """`fields` if they are an audit row's, with the right types; None otherwise."""
    if not isinstance(fields, dict) or set(fields) != set(_ROW_FIELDS):
        return None
    types_ok = all(isinstance(fields[name], kind) for name, kind in _ROW_FIELDS.items())
    shape_ok = (
        types_ok
        and not isinstance(fields["id"], bool)
        and bool(_HASH.fullmatch(fields["prev_hash"]))
        and bool(_HASH.fullmatch(fields["hash"]))
    )
    return fields if shape_ok else None


def _seal_from_json(raw: object) -> Seal | None:
    if not isinstance(raw, dict):
        return None
    try:
        seal = Seal(
            first_id=raw["first_id"],
            first_prev_hash=raw["first_prev_hash"],
            last_id=raw["last_id"],
            last_hash=raw["last_hash"],
            rows=raw["rows"],
            since=datetime.fromisoformat(raw["since"]),
            until=datetime.fromisoformat(raw["until"]),
            sealed_at=datetime.fromisoformat(raw["sealed_at"]),
            key_id=raw["key_id"],
            mac=raw["mac"],
        )
    except (KeyError, TypeError, ValueError):
        return None
    numbers_ok = all(isinstance(n, int) for n in (seal.first_id, seal.last_id, seal.rows))
    texts = (seal.first_prev_hash, seal.last_hash, seal.key_id, seal.mac)
    if not numbers_ok or not all(isinstance(text, str) for text in texts):
        return None
    return seal


def _parse(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _text_lines(lines: Iterable[bytes]) -> Iterator[str]:
    for line in lines:
        yield line.decode("utf-8", errors="replace")


def _line(value: dict[str, Any]) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
