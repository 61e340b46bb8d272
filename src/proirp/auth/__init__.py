"""Staff users, roles, login and tokens."""
