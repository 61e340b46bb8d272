"""Faults: a provider outage during an SMS campaign and an email campaign.

The sandbox answers every send with 503 for 30 s, then with 429 and `Retry-After: 20` for 30 s
(quick: 5 s and 5 s, Retry-After 3). Afterwards every message must have gone exactly once (the
sandbox's ledgers), none may be marked permanently failed, and no send may have reached the
provider before a Retry-After it gave allowed (the sandbox counts those, and apart from them the
sends already on their way when it gave one: in the air within a few milliseconds, before any
worker could have read the answer).
"""

from __future__ import annotations

import time

from prove.campaigns import (
    add_clients,
    ledgered,
    start_campaign,
    wait_settled,
)
from prove.figures import Figure, check, count
from prove.run import Run

AREA = "Faults"


def prove(run: Run) -> list[Figure]:
    sms_count, email_count = run.size(1000, 100), run.size(5000, 300)
    down, limited = run.seconds(30, 5), run.seconds(30, 5)
    retry_after = int(run.seconds(20, 3))
    outage = [
        {"status": 503, "seconds": down},
        {"status": 429, "seconds": limited, "retry_after": retry_after},
    ]
    # The product's own defaults (SEND_MAX_ATTEMPTS=8, its backoff, its timeouts), at a rate
    # that would send the SMS campaign in a fraction of the outage.
    settings = {"TWILIO_MPS": "100", "SEND_TIMEOUT_SECONDS": "10", "RECONCILE_AFTER_SECONDS": "120"}
    with run.stack("outage", settings=settings) as live:
        live.configure_sandbox(mps=100)
        live.configure_sendgrid(events=False)  # sending is what is measured here
        texted = add_clients(run, live, tag="outage", count=sms_count, sms=True)
        mailed = add_clients(run, live, tag="outage", count=email_count, sms=False)
        started = time.monotonic()
        campaigns = [
            start_campaign(run, live, texted, sms=True),
            start_campaign(run, live, mailed, sms=False),
        ]
        # The outage begins as the campaigns start sending.
        live.configure_sandbox(outage=outage)
        live.configure_sendgrid(outage=outage)
        settled, statuses = wait_settled(
            live, campaigns, total=sms_count + email_count, timeout=down + limited + 240
        )
        finished = time.monotonic() - started
        sms, email = ledgered(live.ledger(), texted), ledgered(live.email_ledger(), mailed)
        twilio, sendgrid = live.sandbox().get("/_sandbox/stats").json(), live.email_stats()
    early = twilio["early_requests"] + sendgrid["early_requests"]
    in_flight = twilio["in_flight_at_retry_after"] + sendgrid["in_flight_at_retry_after"]
    given = (
        f"Twilio {twilio['outage_5xx']}x503 {twilio['outage_429']}x429, "
        f"SendGrid {sendgrid['outage_5xx']}x503 {sendgrid['outage_429']}x429"
    )
    print(f"  outage: answers given: {given}; statuses: {dict(statuses)}", flush=True)
    return [
        count(AREA, "SMS lost in a provider outage", sms.lost),
        count(AREA, "SMS sent twice in a provider outage", sms.twice),
        count(AREA, "emails lost in a provider outage", email.lost),
        count(AREA, "emails sent twice in a provider outage", email.twice),
        Figure(
            AREA,
            "sends that reached the provider before its Retry-After allowed",
            f"{early:,} (Twilio {twilio['early_requests']:,}, SendGrid "
            f"{sendgrid['early_requests']:,}; {in_flight:,} more already on their way when it "
            "was given)",
            "≤ 0",
            early == 0,
        ),
        count(AREA, "messages marked permanently failed after an outage", statuses["failed"]),
        check(
            AREA,
            "outage campaigns finished",
            settled,
            detail=f"{finished:.0f} s after a {down + limited:.0f} s outage"
            + ("" if settled else f", unsettled: {dict(statuses)}"),
        ),
    ]
