"""`proirp audit`: check the audit log's chain and anchors, anchor its head, make a chain key."""

from __future__ import annotations

import typer

from proirp.cli.common import fail as _fail
from proirp.cli.common import settings as _settings

audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain with the chain keys, and against its anchors; exits 1 naming the
    problem (the first bad row, or the anchored rows that are missing) if it is broken."""
    from proirp import runtime
    from proirp.audit.anchor_file import anchor_store
    from proirp.audit.verify import verify_chain
    from proirp.kit.db import transaction

    settings = _settings()
    rt = runtime.start(settings)
    with transaction(rt.session_factory) as session:
        report = verify_chain(session, anchors=anchor_store(settings))
    if report.ok:
        anchored = (
            f"; it holds the anchor of row {report.anchored_id} "
            f"({report.anchored_at.isoformat(timespec='seconds')})"
            if report.anchored_id is not None and report.anchored_at is not None
            else "; nothing anchored yet"
        )
        typer.echo(f"audit log intact: {report.rows_checked} rows checked{anchored}")
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


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Anchor the audit log's head now (the worker does every AUDIT_ANCHOR_INTERVAL_MINUTES)."""
    from proirp import runtime
    from proirp.audit.anchor_file import anchor_store
    from proirp.audit.repository import read_head
    from proirp.audit.tasks import anchor_head_now

    settings = _settings()
    rt = runtime.start(settings)
    anchor = anchor_head_now(settings, rt.engine)
    if anchor is not None:
        typer.echo(f"anchored row {anchor.row_id} in {settings.audit_anchor_file}")
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
