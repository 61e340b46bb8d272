"""Run Alembic from code: `proirp db upgrade`, `proirp db check`, and the tests use these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from proirp.audit.keys import ChainKeyring
from proirp.kit.crypto import Vault

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(
    url: str, *, audit_chain_keyring: ChainKeyring | None = None, vault: Vault | None = None
) -> Config:
    """Alembic's configuration for `url`. Migrations that re-sign the audit chain read the
    keyring from its attributes (`audit_chain_keyring`), those that encrypt what was in clear
    the vault (`vault`); keys never go through the environment."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["audit_chain_keyring"] = audit_chain_keyring
    config.attributes["vault"] = vault
    return config


def upgrade(
    url: str,
    revision: str = "head",
    *,
    audit_chain_keyring: ChainKeyring | None = None,
    vault: Vault | None = None,
) -> None:
    """Migrate to `revision`. A database whose audit log has rows signed the old way needs
    `audit_chain_keyring`, and one with clients from before their names were encrypted the
    `vault` (an empty one needs neither)."""
    config = alembic_config(url, audit_chain_keyring=audit_chain_keyring, vault=vault)
    command.upgrade(config, revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree."""
    command.check(alembic_config(url))
