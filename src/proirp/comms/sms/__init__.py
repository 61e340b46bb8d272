"""SMS through Twilio: sending, dispatch and reconciliation, status callbacks, replies (STOP, START,
HELP), numbers and segments."""
