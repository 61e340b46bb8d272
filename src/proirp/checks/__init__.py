"""`proirp check-integrations`: is each provider configured, and does it work?

One module a kind of provider (messaging, calendars, other services); `runner` runs them all
and `report` says what was found, in the Node version's summary form, with no secret in it.
"""
