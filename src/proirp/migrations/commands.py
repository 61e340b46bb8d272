"""Run Alembic from code: `proirp db upgrade`, `proirp db check`, and the tests use these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from proirp.audit.keys import ChainKeyring

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(url: str, *, audit_chain_keyring: ChainKeyring | None = None) -> Config:
    """Alembic's configuration for `url`. Migrations that re-sign the audit chain read the
    keyring from its attributes (`audit_chain_keyring`); keys never go through the environment."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["audit_chain_keyring"] = audit_chain_keyring
    return config


def upgrade(
    url: str, revision: str = "head", *, audit_chain_keyring: ChainKeyring | None = None
) -> None:
    """Migrate to `revision`. A database whose audit log has rows signed the old way needs
    `audit_chain_keyring` (an empty one does not)."""
    command.upgrade(alembic_config(url, audit_chain_keyring=audit_chain_keyring), revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree."""
    command.check(alembic_config(url))
