"""Alembic migrations for the whole data model."""
