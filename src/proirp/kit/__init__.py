"""Shared building blocks: database, crypto vault, errors, pagination, time."""
