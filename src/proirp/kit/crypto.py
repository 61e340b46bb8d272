"""The crypto vault: MultiFernet over PROIRP_ENCRYPTION_KEYS (the first key encrypts, all decrypt).

Columns typed `EncryptedText`, `EncryptedDate` or `EncryptedJSON` hold only Fernet tokens; the
vault is installed once at start-up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from proirp.kit.files import private_directory

log = structlog.get_logger(__name__)


class VaultError(Exception):
    """The vault is missing, or a stored value cannot be decrypted with any configured key."""


class Vault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise VaultError("at least one encryption key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise VaultError("an encryption key is not a valid Fernet key") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("stored value cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the first (current) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("stored value cannot be decrypted with the configured keys") from exc


def _new_fernet_key() -> str:
    return Fernet.generate_key().decode()


def load_or_create_dev_key(
    path: Path,
    *,
    generate: Callable[[], str] = _new_fernet_key,
    log_event: str = "vault.dev_key_created",
) -> str:
    """The development key in `path`, created (by `generate`) with mode 0600 if it is not there."""
    if path.exists():
        return path.read_text().strip()
    private_directory(path.parent)
    key = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(log_event, path=str(path))
    return key


_vault: Vault | None = None


def install_vault(vault: Vault) -> None:
    """Make `vault` the one `EncryptedText` columns use."""
    global _vault
    _vault = vault


def current_vault() -> Vault:
    if _vault is None:
        raise VaultError("the vault is not installed; call install_vault() at start-up")
    return _vault


class Sealed(str):
    """A value already encrypted by the vault (a token), stored as it is: content that many rows
    share (a campaign's text) is encrypted once, not once per row."""


def seal(plaintext: str) -> Sealed:
    """`plaintext` encrypted now, for an `EncryptedText` column to store as it is."""
    return Sealed(current_vault().encrypt(plaintext))


class EncryptedText(TypeDecorator[str]):
    """Text stored encrypted with the vault; plaintext never reaches the database."""

    impl = Text
    cache_ok = True

    def __init__(self, width: int | None = None) -> None:
        super().__init__()
        # The longest plaintext the column is for (input is refused beyond it); the stored
        # token is longer, so the column itself is unbounded text.
        self.width = width

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return str(value)
        return current_vault().encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_vault().decrypt(value)


class EncryptedDate(TypeDecorator[date]):
    """A date stored encrypted with the vault (its ISO form is what is encrypted): a date of
    birth never reaches the database as a date. Nothing can compare or sort it in SQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: date | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_vault().encrypt(value.isoformat()[:10])  # a datetime: its date

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(current_vault().decrypt(value))
        except ValueError:
            # Not a date once decrypted; the exception would quote it.
            raise VaultError("a stored date is not a date (YYYY-MM-DD)") from None


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored encrypted with the vault (its JSON text is what is encrypted): what
    staff chose, such as a campaign's selection with the words they filtered names by. Nothing
    can query inside it in SQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_vault().encrypt(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(current_vault().decrypt(value))


# Every column type the vault encrypts: what key rotation re-encrypts and Alembic's comparison
# allows for on SQLite both read this, so a new type cannot be left out of either.
ENCRYPTED_TYPES = (EncryptedText, EncryptedDate, EncryptedJSON)
