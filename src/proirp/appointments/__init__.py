"""Appointments: clients' calendar events, their reminders (rules, planning, sending) and the
client's C/R replies. A layer above comms and calendars: it uses both, neither knows it."""
