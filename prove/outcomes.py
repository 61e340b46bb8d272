"""What a fault left behind on a stack, once its messages settled: messages lost (queued but
never at the provider, by the sandbox's ledgers), sent twice, half-written rows, and whether
`proirp audit verify` passes."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from tests.live import BIN, LiveStack, wait_until

from proirp.comms.models import Campaign, Communication
from prove.run import Run

FINAL = ("sent", "delivered", "undelivered", "failed", "blocked", "unknown", "cancelled")
Address = tuple[str, str]  # (channel, address)


def quiet(fn: Callable[[], bool]) -> Callable[[], bool]:
    """A check that reads False while the database or the sandbox does not answer."""

    def checked() -> bool:
        try:
            return fn()
        except Exception:  # a restart under way: ask again
            return False

    return checked


def _unsettled(live: LiveStack) -> int:
    """Messages still queued or sending, and campaigns not yet fanned out."""
    with live.session() as session:
        waiting = session.scalar(
            select(func.count()).where(
                Communication.direction == "outbound", Communication.status.not_in(FINAL)
            )
        )
        unfanned = session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.fanned_out_at.is_(None))
        )
        return (waiting or 0) + (unfanned or 0)


# Half-written rows: what one transaction writes together, found apart.
HALF_WRITTEN = {
    "messages without their history": """
        SELECT count(*) FROM communications c WHERE NOT EXISTS
          (SELECT 1 FROM communication_events e WHERE e.communication_id = c.id)""",
    "single messages without their audit row": """
        SELECT count(*) FROM communications c WHERE c.campaign_id IS NULL
          AND c.direction = 'outbound' AND NOT EXISTS (SELECT 1 FROM audit_logs a
            WHERE a.details->>'communication_id' = c.id
              AND a.action IN ('SMS_QUEUED', 'EMAIL_QUEUED', 'SMS_BLOCKED', 'EMAIL_BLOCKED'))""",
    "campaigns without their audit row": """
        SELECT count(*) FROM campaigns c WHERE NOT EXISTS (SELECT 1 FROM audit_logs a
          WHERE a.action = 'CAMPAIGN_CREATED' AND a.details->>'campaign_id' = c.id)""",
    "campaigns whose count disagrees with their messages": """
        SELECT count(*) FROM campaigns c WHERE c.fanned_out_at IS NOT NULL
          AND c.total <> (SELECT count(*) FROM communications m WHERE m.campaign_id = c.id)""",
    "clients made through the API without their audit row": """
        SELECT count(*) FROM clients c WHERE c.created_by_user_id IS NOT NULL AND NOT EXISTS
          (SELECT 1 FROM audit_logs a WHERE a.action = 'CLIENT_CREATED' AND a.client_id = c.id)""",
}


@dataclass
class Tally:
    lost: int
    twice: int
    half_written: int
    verified: bool
    notes: list[str]
    # Emails whose worker died after recording its call as begun and before SendGrid had it:
    # the product cannot tell them from a call SendGrid took, so they end `unknown`, not resent
    # (decision 0003). Counted apart from `lost`, in a figure of their own.
    unreached: int = 0


def _audit_verify(live: LiveStack) -> bool:
    done = subprocess.run(  # noqa: S603 (our own console script)
        [str(BIN / "proirp"), "audit", "verify"],
        env=live.env,
        cwd=live.tmp,
        capture_output=True,
        timeout=300,
    )
    return done.returncode == 0


def tally(run: Run, live: LiveStack) -> Tally:
    """Wait for every message to settle (or the scenario's time to run out), then count. The
    clients written straight to the database (no one made them, so `created_by_user_id` is
    empty) have no audit row of their own."""
    settled = wait_until(
        quiet(lambda: _unsettled(live) == 0), timeout=run.seconds(480, 300), interval=1.0
    )
    notes = [] if settled else [f"{_unsettled(live)} messages or campaigns still unsettled"]
    time.sleep(1.0)  # the last answers' ledger entries
    expected: Counter[Address] = Counter()
    statuses: Counter[str] = Counter()
    left_unknown: Counter[Address] = Counter()  # emails whose call was recorded as begun
    never_written = 0
    with live.session() as session:
        outbound = session.scalars(
            select(Communication).where(Communication.direction == "outbound")
        ).all()
        for comm in outbound:
            statuses[f"{comm.channel} {comm.status}"] += 1
            if comm.status not in ("blocked", "cancelled"):
                expected[(comm.channel, comm.to_address.lower())] += 1
            if comm.status == "unknown" and comm.call_started_at is not None:
                left_unknown[(comm.channel, comm.to_address.lower())] += 1
        for campaign in session.scalars(select(Campaign)).all():
            wanted = set(campaign.selection.get("client_ids", []))
            written = set(
                session.scalars(
                    select(Communication.client_id).where(Communication.campaign_id == campaign.id)
                )
            )
            never_written += len(wanted - written)
        half = {
            name: session.execute(text(sql)).scalar() or 0 for name, sql in HALF_WRITTEN.items()
        }
    provider: Counter[Address] = Counter(("sms", m["to"]) for m in live.ledger())
    provider.update(("email", m["to"].lower()) for m in live.email_ledger())
    lost, twice, unreached = outcomes(expected, left_unknown, provider)
    lost += never_written
    notes.append("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    notes.extend(f"{name}: {n}" for name, n in half.items() if n)
    return Tally(lost, twice, sum(half.values()), _audit_verify(live), notes, unreached)


def outcomes(
    expected: Counter[Address], left_unknown: Counter[Address], provider: Counter[Address]
) -> tuple[int, int, int]:
    """Lost, sent twice, and unreached: of the messages `expected` at each address, those the
    provider never had (unreached where the product left them `unknown` after their call was
    recorded as begun, lost otherwise), and the provider's copies beyond those expected."""
    missing = {key: n - provider[key] for key, n in expected.items() if n > provider[key]}
    unreached = sum(min(n, left_unknown[key]) for key, n in missing.items())
    twice = sum(max(0, n - expected[key]) for key, n in provider.items())
    return sum(missing.values()) - unreached, twice, unreached
