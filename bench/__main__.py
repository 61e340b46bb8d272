"""Run every benchmark and print one table: `make bench` or `python -m bench`."""

from __future__ import annotations

from bench import (
    audit_chain,
    calendar_sync,
    client_search,
    email_campaign,
    load,
    reminders,
    size,
    sms_campaign,
)


def main() -> None:
    audit_chain.main()
    client_search.main()
    sms_campaign.main([])
    email_campaign.main([])
    calendar_sync.main([])
    reminders.main([])
    load.main([])
    size.main([])


if __name__ == "__main__":
    main()
