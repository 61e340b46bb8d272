"""Notices to staff about the product itself, sent by email: a calendar to connect again, a
campaign that finished with messages that did not arrive, webhook requests refused in numbers.

It sits above comms (which sends them) and calendars (whose integrations it reads); each notice
is sent once, recorded in `staff_notices` (docs/decisions/0013-staff-notices.md)."""
