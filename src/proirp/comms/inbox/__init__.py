"""The inbox: inbound messages stored and threaded, read state per user, urgent messages
and their alerts, after-hours replies."""
