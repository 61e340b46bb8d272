"""Communications with clients: SMS and email, templates and campaigns. `core` holds what every
channel shares; docs/ARCHITECTURE.md has the map."""
