"""Faults: the network between the product and its providers.

Sends whose answer hangs past SEND_TIMEOUT_SECONDS, and sends whose answer is cut off half-way
(a connection reset), for SMS and email: in both the provider has taken the message and the
product cannot know it. It must find out (Twilio: look the message up; SendGrid: its events)
rather than send again, and lose none. The timeouts are shortened (SEND_TIMEOUT_SECONDS=2,
RECONCILE_AFTER_SECONDS=5) to keep the run short; the path taken is the same.
"""

from __future__ import annotations

import time

from prove.campaigns import (
    UNSETTLED,
    add_clients,
    ledgered,
    start_campaign,
    wait_settled,
)
from prove.figures import Figure, count
from prove.run import Run

AREA = "Faults"
SEND_TIMEOUT = 2.0


def prove(run: Run) -> list[Figure]:
    sms_count, email_count = run.size(200, 20), run.size(500, 50)
    broken = run.size(5, 2)  # SMS answers that hang, and as many cut off
    # An email call waits longer the more recipients it carries (the SendGrid adapter's rule).
    hang = SEND_TIMEOUT + 0.01 * email_count + 3
    settings = {
        "TWILIO_MPS": "100",
        "SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT),
        "RECONCILE_AFTER_SECONDS": "5",
    }
    with run.stack("network", settings=settings) as live:
        live.configure_sandbox(mps=100)
        texted = add_clients(run, live, tag="network", count=sms_count, sms=True, exchange=557)
        # Two email campaigns of one call each: one answer cut off, then one that hangs.
        mailed = [
            add_clients(run, live, tag=f"network{n}", count=email_count, sms=False)
            for n in range(2)
        ]
        live.configure_sandbox(reset_next=broken, timeout_next=broken, timeout_seconds=hang)
        live.configure_sendgrid(reset_next=1, timeout_next=1, timeout_seconds=hang)
        started = time.monotonic()
        sms_campaign = start_campaign(run, live, texted, sms=True)
        email_campaigns = [start_campaign(run, live, r, sms=False) for r in mailed]
        _, sms_statuses = wait_settled(live, [sms_campaign], total=sms_count, timeout=120)
        _, email_statuses = wait_settled(live, email_campaigns, total=2 * email_count, timeout=120)
        finished = time.monotonic() - started
        sms = ledgered(live.ledger(), texted)
        emails = [ledgered(live.email_ledger(), r) for r in mailed]
        twilio, sendgrid = live.sandbox().get("/_sandbox/stats").json(), live.email_stats()
    print(
        f"  network: Twilio {twilio['resets']} resets {twilio['timeouts']} hangs, "
        f"SendGrid {sendgrid['resets']} resets {sendgrid['timeouts']} hangs; "
        f"SMS {dict(sms_statuses)}, email {dict(email_statuses)}; {finished:.0f} s",
        flush=True,
    )
    faults_given = twilio["resets"] + twilio["timeouts"] + sendgrid["resets"] + sendgrid["timeouts"]
    unresolved_sms = sms_statuses["unknown"] + sum(sms_statuses[s] for s in UNSETTLED)
    unresolved_email = email_statuses["unknown"] + sum(email_statuses[s] for s in UNSETTLED)
    return [
        Figure(
            AREA,
            "hung and cut-off answers given (SMS and email calls)",
            f"{faults_given:,}",
            f"{2 * broken + 2:,}",
            faults_given == 2 * broken + 2,
        ),
        count(AREA, "SMS lost after a hung or cut-off answer", sms.lost),
        count(AREA, "SMS sent twice after a hung or cut-off answer", sms.twice),
        count(AREA, "SMS left unresolved after a hung or cut-off answer", unresolved_sms),
        count(AREA, "emails lost after a hung or cut-off answer", sum(e.lost for e in emails)),
        count(
            AREA, "emails sent twice after a hung or cut-off answer", sum(e.twice for e in emails)
        ),
        count(AREA, "emails left unresolved after a hung or cut-off answer", unresolved_email),
    ]
