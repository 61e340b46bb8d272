"""Campaigns: one message to many clients, recorded at once and fanned out by the worker through one
driver with a hook per channel."""
