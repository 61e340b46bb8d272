"""The audit log's jobs in the worker: anchoring its head every few minutes, checking it nightly."""

from __future__ import annotations

from datetime import timedelta

import structlog
from huey import crontab
from sqlalchemy.engine import Engine

from proirp.audit.anchor_file import anchor_store
from proirp.audit.anchors import Anchor, anchor_head
from proirp.audit.keys import current_chain_keyring
from proirp.audit.verify import verify_chain
from proirp.config import Settings
from proirp.kit.db import transaction
from proirp.worker.jobs import JobContext, periodic_job

log = structlog.get_logger(__name__)


def anchor_head_now(settings: Settings, engine: Engine) -> Anchor | None:
    """Anchor the head unless it already is (`proirp audit anchor`, and serve and worker when
    they stop); returns the new anchor, or None when there was nothing new to anchor."""
    return anchor_head(engine, anchor_store(settings), current_chain_keyring().current)


@periodic_job(crontab(minute="*"), name="audit.anchor_head")
def anchor_head_periodically(ctx: JobContext) -> None:
    """Looks every minute; anchors once AUDIT_ANCHOR_INTERVAL_MINUTES have passed since the last
    anchor and the log has grown (a quiet log adds no line)."""
    with ctx.session_factory() as session:
        bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    interval = timedelta(minutes=ctx.settings.audit_anchor_interval_minutes)
    store = anchor_store(ctx.settings)
    anchor_head(engine, store, current_chain_keyring().current, unless_anchored_within=interval)


@periodic_job(crontab(minute="17", hour="3"), name="audit.verify_chain")
def verify_audit_chain_nightly(ctx: JobContext) -> None:
    """A broken chain is an incident: log it loudly so monitoring can page someone."""
    with transaction(ctx.session_factory) as session:
        report = verify_chain(session, anchors=anchor_store(ctx.settings))
    if report.ok:
        log.info(
            "audit.chain_intact", rows_checked=report.rows_checked, anchored_id=report.anchored_id
        )
    else:
        log.error("audit.chain_broken", first_bad_id=report.first_bad_id, problem=report.problem)
