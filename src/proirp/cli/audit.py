"""`proirp audit`: check the audit log's chain and anchors, anchor its head, make a chain key,
export a period as a sealed archive and check one."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from proirp.cli.common import fail as _fail
from proirp.cli.common import settings as _settings

audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")


@audit_app.command("verify")
def audit_verify(
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            help="Check this archive instead of the log: a file, s3://bucket/key, or a key in "
            "AUDIT_ANCHOR_S3_BUCKET. Needs the chain keys only, not the database.",
        ),
    ] = None,
) -> None:
    """Check the audit chain with the chain keys, and against its anchors (the file, and the
    S3 bucket when AUDIT_ANCHOR_S3_BUCKET is set); exits 1 naming the problem (the first bad
    row, or the anchored rows that are missing) if it is broken."""
    if archive is not None:
        _verify_archive(archive)
        return
    from proirp import runtime
    from proirp.audit.anchor_file import anchor_store
    from proirp.audit.chainer import chain_pending
    from proirp.audit.verify import verify_chain
    from proirp.kit.db import transaction

    settings = _settings()
    rt = runtime.start(settings)
    chained = chain_pending(rt.session_factory)  # what no chainer has reached yet is checked too
    if chained:
        typer.echo(f"chained {chained} rows written since the chainer last ran")
    started = time.perf_counter()
    with transaction(rt.session_factory) as session:
        report = verify_chain(session, anchors=anchor_store(settings))
    seconds = time.perf_counter() - started
    if report.ok:
        anchored = (
            f"; it holds the anchor of row {report.anchored_id} "
            f"({report.anchored_at.isoformat(timespec='seconds')})"
            if report.anchored_id is not None and report.anchored_at is not None
            else "; nothing anchored yet"
        )
        rate = f" in {seconds:.1f} s ({report.rows_checked / max(seconds, 1e-6):,.0f} rows/s)"
        typer.echo(f"audit log intact: {report.rows_checked} rows checked{rate}{anchored}")
        return
    if report.first_bad_id is None:
        typer.echo(
            f"audit log BROKEN: {report.problem} ({report.rows_checked} rows checked)", err=True
        )
    else:
        typer.echo(
            f"audit log BROKEN at row {report.first_bad_id}: {report.problem} "
            f"({report.rows_checked} rows before it are intact)",
            err=True,
        )
    raise typer.Exit(1)


def _verify_archive(archive: str) -> None:
    from proirp.audit.archive import verify_archive
    from proirp.audit.archive_s3 import NoBucket, archive_lines
    from proirp.audit.keys import build_chain_keyring
    from proirp.integrations.base import ProviderError

    settings = _settings()
    keyring = build_chain_keyring(settings)
    path = Path(archive)
    try:
        if path.is_file():
            with path.open("rb") as handle:
                report = verify_archive(handle, keyring)
        elif archive.startswith("s3://") or settings.audit_anchor_s3_bucket:
            report = verify_archive(archive_lines(settings, archive), keyring)
        else:
            _fail(f"{archive} is not a file (and AUDIT_ANCHOR_S3_BUCKET is not set)")
            return
    except NoBucket:
        _fail(f"{archive} is not a file (and AUDIT_ANCHOR_S3_BUCKET is not set)")
        return
    except ProviderError as exc:
        _fail(f"the archive {archive} could not be read from S3: {exc.reason}")
        return
    if report.ok:
        period = ""
        if report.since and report.until:
            period = f" ({report.since.isoformat()} to {report.until.isoformat()})"
        typer.echo(
            f"audit archive intact: {report.rows_checked} rows checked, rows {report.first_id} "
            f"to {report.last_id}{period}, sealed with a chain key"
        )
        return
    typer.echo(
        f"audit archive BROKEN: {report.problem} ({report.rows_checked} rows checked)",
        err=True,
    )
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: Annotated[
        datetime, typer.Option("--since", help="The first day (or time, UTC) to export.")
    ],
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until", help="Export rows written before this day (or time, UTC); default: now."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the archive to this new file.")
    ] = None,
    to_s3: Annotated[
        bool,
        typer.Option("--s3", help="Write the archive to AUDIT_ANCHOR_S3_BUCKET, locked."),
    ] = False,
) -> None:
    """Write the audit rows of a period, exactly as chained, with a seal signed by the chain key:
    an archive `proirp audit verify --archive` checks without the database."""
    from proirp import runtime
    from proirp.audit.archive import ArchiveError
    from proirp.audit.archive_export import export_to_file, export_to_s3
    from proirp.integrations.base import ProviderError
    from proirp.kit.time import utcnow

    if (out is None) == (not to_s3):
        _fail("give one of --out FILE or --s3")
    start = _utc(since)
    end = _utc(until) if until is not None else utcnow()
    if start >= end:
        _fail("--since must be before --until" if until else "--since must be in the past")
    settings = _settings()
    if to_s3 and not settings.audit_anchor_s3_bucket:
        _fail("--s3 needs AUDIT_ANCHOR_S3_BUCKET (see docs/THIRD-PARTY-SETUP.md)")
    rt = runtime.start(settings)
    try:
        if out is not None:
            exported = export_to_file(rt.session_factory, out, since=start, until=end)
        else:
            exported = export_to_s3(settings, rt.session_factory, since=start, until=end)
    except (ArchiveError, FileExistsError) as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _fail(f"the archive could not be written to {out}: {exc.strerror}")
        return
    except ProviderError as exc:
        _fail(f"the archive was not stored in the bucket: {exc.reason}; nothing was exported")
        return
    seal = exported.seal
    typer.echo(
        f"exported {seal.rows} audit rows ({seal.first_id} to {seal.last_id}) to {exported.where}"
    )


def _utc(moment: datetime) -> datetime:
    """A time given without a zone is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@audit_app.command("chain")
def audit_chain() -> None:
    """Sign every audit row written and not yet chained into the chain now (the worker's chainer
    does this continuously; this is for a stopped installation, before a downgrade or a copy)."""
    from proirp import runtime
    from proirp.audit.chainer import chain_pending

    rt = runtime.start(_settings())
    try:
        typer.echo(f"chained {chain_pending(rt.session_factory)} rows")
    finally:
        rt.engine.dispose()


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Chain the rows waiting for the chainer, then anchor the audit log's head now (the worker
    does every AUDIT_ANCHOR_INTERVAL_MINUTES)."""
    from proirp import runtime
    from proirp.audit.anchor_file import anchor_store
    from proirp.audit.chainer import chain_pending
    from proirp.audit.repository import read_head
    from proirp.audit.tasks import anchor_head_now
    from proirp.integrations.base import ProviderError

    settings = _settings()
    rt = runtime.start(settings)
    chain_pending(rt.session_factory)  # the head to anchor is the newest row written, chained
    try:
        anchor = anchor_head_now(settings, rt.engine)
    except ProviderError as exc:
        _fail(
            f"the head is anchored in {settings.audit_anchor_file}, but the S3 bucket refused it: "
            f"{exc.reason}"
        )
        return
    if anchor is not None:
        bucket = settings.audit_anchor_s3_bucket
        also = f" and in s3://{bucket}/{settings.audit_anchor_s3_prefix}anchors/" if bucket else ""
        typer.echo(f"anchored row {anchor.row_id} in {settings.audit_anchor_file}{also}")
        return
    latest, head = anchor_store(settings).latest(), read_head(rt.engine)
    if head is None and latest is None:
        typer.echo("nothing to anchor: the audit log is empty")
    elif latest is not None and (head is None or head.row_id < latest.row_id):
        _fail(f"row {latest.row_id} is anchored but the log ends before it: run `audit verify`")
    else:
        typer.echo(f"row {head.row_id if head else 0} is anchored already")


@audit_app.command("generate-key")
def audit_generate_key() -> None:
    """Print a new key to put first in AUDIT_CHAIN_KEYS."""
    from proirp.audit.keys import generate_chain_key

    typer.echo(generate_chain_key())
