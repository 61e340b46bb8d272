"""`proirp audit export --out` and `proirp audit verify --archive`: the rows of a period exactly
as chained, sealed with the chain key; checked without the database, and refused when changed,
cut or forged, naming where and never what a row holds."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from proirp import cli
from proirp.audit.archive import Seal
from proirp.audit.keys import ChainKey
from proirp.audit.models import AuditLog
from proirp.kit.db import transaction
from proirp.kit.time import set_clock
from tests.audit.conftest import ChainDatabase, all_rows, write_rows

DAY_1 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
Lines = list[dict[str, Any]]


def _three_days(db: ChainDatabase) -> list[list[int]]:
    """Three rows on each of three days; their ids, day by day."""
    days = []
    with set_clock(DAY_1) as clock:
        for _ in range(3):
            days.append(write_rows(db, 3))
            clock.advance(timedelta(days=1))
    return days


def _export(runner: CliRunner, out: Path, *period: str) -> Any:
    """`audit export`, a week after the first day (the default end of the period: now)."""
    with set_clock(DAY_1 + timedelta(days=7)):
        return runner.invoke(cli.app, ["audit", "export", *period, "--out", str(out)])


def _lines(path: Path) -> Lines:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, lines: Lines) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_period_is_exported_and_its_archive_verifies_without_the_database(
    chain_db: ChainDatabase, verify_command: CliRunner, tmp_path: Path
) -> None:
    days = _three_days(chain_db)
    out = tmp_path / "audit-2031-03-04.jsonl"

    result = _export(verify_command, out, "--since", "2031-03-04", "--until", "2031-03-05")

    assert result.exit_code == 0, result.output
    assert f"exported 3 audit rows ({days[1][0]} to {days[1][-1]}) to {out}" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    header, *rows, seal = _lines(out)
    assert header["since"] == "2031-03-04T00:00:00.000000+00:00"
    before = {row.id: row for row in all_rows(chain_db)}
    assert [row["row"]["id"] for row in rows] == days[1]
    assert [row["row"]["hash"] for row in rows] == [before[i].hash for i in days[1]]
    # The first row's link: the hash of the last row of the day before, fixed by the seal.
    assert seal["seal"]["first_prev_hash"] == before[days[0][-1]].hash
    assert seal["seal"]["last_hash"] == before[days[1][-1]].hash
    with transaction(chain_db.sessions) as session:
        recorded = session.scalars(
            select(AuditLog).where(AuditLog.action == "AUDIT_ARCHIVE_EXPORTED")
        ).one()
    assert recorded.details["rows"] == 3 and recorded.details["destination"] == "file"

    checked = verify_command.invoke(
        cli.app, ["audit", "verify", "--archive", str(out)], env={"DATABASE_URL": "sqlite:///no"}
    )

    assert checked.exit_code == 0, checked.output
    assert (
        f"audit archive intact: 3 rows checked, rows {days[1][0]} to {days[1][-1]}"
        in checked.stdout
    )


def test_an_archive_is_never_written_over_nor_made_of_nothing(
    chain_db: ChainDatabase, verify_command: CliRunner, tmp_path: Path
) -> None:
    _three_days(chain_db)
    out = tmp_path / "archive.jsonl"
    out.write_text("kept\n")

    over = _export(verify_command, out, "--since", "2031-03-03")
    empty = _export(
        verify_command,
        tmp_path / "none.jsonl",
        "--since",
        "2031-03-03",
        "--until",
        "2031-03-03T08:00:00",
    )
    backwards = _export(
        verify_command, tmp_path / "x.jsonl", "--since", "2031-03-05", "--until", "2031-03-04"
    )

    assert over.exit_code == 1 and "exists already" in over.stderr
    assert out.read_text() == "kept\n"
    assert empty.exit_code == 1 and "no audit rows were written between" in empty.stderr
    assert not (tmp_path / "none.jsonl").exists()
    assert backwards.exit_code == 1 and "--since must be before --until" in backwards.stderr
    assert list(tmp_path.glob(".*.jsonl.*")) == [], "no partial file is left behind"


def _edit_row(lines: Lines) -> Lines:
    lines[2]["row"]["details"]["n"] = 99
    return lines


def _remove_row(lines: Lines) -> Lines:
    del lines[2]
    return lines


def _remove_tail(lines: Lines) -> Lines:
    del lines[-3:-1]
    return lines


def _remove_tail_and_seal(lines: Lines) -> Lines:
    return lines[:-3]


def _remove_first_row(lines: Lines) -> Lines:
    del lines[1]
    return lines


def _forge_seal(lines: Lines) -> Lines:
    """Cut the tail and seal what is left, with a key that is not a chain key."""
    lines = lines[:-3]
    raw = lines and _seal_of(lines)
    lines.append({"seal": raw})
    return lines


def _seal_of(lines: Lines) -> dict[str, Any]:
    rows = [line["row"] for line in lines[1:]]
    seal = Seal(
        first_id=rows[0]["id"],
        first_prev_hash=rows[0]["prev_hash"],
        last_id=rows[-1]["id"],
        last_hash=rows[-1]["hash"],
        rows=len(rows),
        since=datetime.fromisoformat(lines[0]["since"]),
        until=datetime.fromisoformat(lines[0]["until"]),
        sealed_at=DAY_1,
        key_id="",
    ).signed_with(ChainKey.from_text("not-a-chain-key-" + "x" * 30))
    return seal.to_json()


def _change_sealed_count(lines: Lines) -> Lines:
    lines[-1]["seal"]["rows"] = 4
    return lines


def _add_after_seal(lines: Lines) -> Lines:
    return [*lines, lines[1]]


TAMPERING: dict[str, tuple[Callable[[Lines], Lines], str]] = {
    "a changed row": (_edit_row, "row {r2} (line 3) content does not match its hash (edited)"),
    "a removed row": (
        _remove_row,
        "row {r3} (line 3) does not follow the row before it (a row was removed",
    ),
    "a removed tail": (
        _remove_tail,
        "the archive ends at row {r4}, but its seal names row {r6} as its last: "
        "rows were removed from the end (truncated)",
    ),
    "a removed tail and seal": (
        _remove_tail_and_seal,
        "the archive has no seal (its last row is {r4}): it was cut short, or never finished",
    ),
    "removed first rows": (
        _remove_first_row,
        "the archive starts at row {r2}, but its seal names row {r1} as its first",
    ),
    "a forged seal": (_forge_seal, "the seal is not signed by a configured chain key (forged"),
    "a changed seal": (_change_sealed_count, "not signed by a configured chain key"),
    "a line after the seal": (_add_after_seal, "follows the seal (something was added after"),
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_a_tampered_archive_is_refused_naming_where(
    kind: str, chain_db: ChainDatabase, verify_command: CliRunner, tmp_path: Path
) -> None:
    days = _three_days(chain_db)
    out = tmp_path / "archive.jsonl"
    result = _export(verify_command, out, "--since", "2031-03-04")
    assert result.exit_code == 0, result.output
    ids = [*days[1], *days[2]]
    assert len(_lines(out)) == 1 + 6 + 1
    change, expected = TAMPERING[kind]
    _write(out, change(_lines(out)))

    checked = verify_command.invoke(cli.app, ["audit", "verify", "--archive", str(out)])

    assert checked.exit_code == 1, checked.output
    names = {f"r{n}": ids[n - 1] for n in range(1, 7)}
    assert expected.format(**names) in checked.stderr
    assert checked.stderr.startswith("audit archive BROKEN: ")
    # Where, never what: no row's content is printed.
    for leak in ("client", "203.0.113.7", "pytest/1.0", "CLIENT_"):
        assert leak not in checked.output


def test_a_file_that_is_no_archive_is_refused(verify_command: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")

    checked = verify_command.invoke(cli.app, ["audit", "verify", "--archive", str(path)])
    missing = verify_command.invoke(
        cli.app, ["audit", "verify", "--archive", str(tmp_path / "gone.jsonl")]
    )

    assert checked.exit_code == 1
    assert "line 1 is not the header of an audit archive" in checked.stderr
    assert missing.exit_code == 1
    assert "is not a file (and AUDIT_ANCHOR_S3_BUCKET is not set)" in missing.stderr
