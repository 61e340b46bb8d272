"""The keys that sign the audit chain: AUDIT_CHAIN_KEYS, the first signs new rows, all verify.

A key never reaches the database: each row names the key that signed it by a short fingerprint,
so rotating keys leaves older rows verifiable as long as their key stays listed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proirp.config import Settings
from proirp.kit.crypto import load_or_create_dev_key

KEY_ID_LENGTH = 16
_KEY_ID_PREFIX = b"proirp audit chain key id\n"


class ChainKeyError(Exception):
    """No chain key is installed, or none was given; the message never holds a key."""


def generate_chain_key() -> str:
    """A new random key (256 bits, URL-safe text) for AUDIT_CHAIN_KEYS."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ChainKey:
    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> ChainKey:
        secret = text.encode()
        digest = hashlib.sha256(_KEY_ID_PREFIX + secret).hexdigest()
        return cls(digest[:KEY_ID_LENGTH], secret)

    def sign(self, message: str) -> str:
        """HMAC-SHA256 of `message` under this key, as 64 hex digits."""
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def signed(self, message: str, mac: str) -> bool:
        return hmac.compare_digest(self.sign(message), mac)


class ChainKeyring:
    """The configured chain keys, newest first."""

    def __init__(self, texts: Sequence[str]) -> None:
        if not texts:
            raise ChainKeyError("at least one audit chain key is needed (AUDIT_CHAIN_KEYS)")
        self.keys = [ChainKey.from_text(text) for text in texts]
        self._age = {key.key_id: age for age, key in enumerate(self.keys)}

    @property
    def current(self) -> ChainKey:
        """The key that signs new rows and anchors."""
        return self.keys[0]

    def get(self, key_id: str) -> ChainKey | None:
        age = self._age.get(key_id)
        return None if age is None else self.keys[age]

    def age(self, key_id: str) -> int | None:
        """0 for the current key, 1 for the one before it...; None for a key not configured."""
        return self._age.get(key_id)


def build_chain_keyring(settings: Settings) -> ChainKeyring:
    """The keyring `settings` name; in development without keys, one kept in the data folder."""
    texts = [key.get_secret_value() for key in settings.audit_chain_keys]
    if not texts:
        # Development only (settings refuse production without keys).
        path = settings.proirp_data_dir / "audit-chain.key"
        texts = [_load_or_create_dev_chain_key(path)]
    return ChainKeyring(texts)


def _load_or_create_dev_chain_key(path: Path) -> str:
    return load_or_create_dev_key(
        path, generate=generate_chain_key, log_event="audit.dev_chain_key_created"
    )


_installed: ChainKeyring | None = None


def install_chain_keyring(keyring: ChainKeyring | None) -> None:
    """Make `keyring` the one record_audit signs with and verification checks against."""
    global _installed
    _installed = keyring


def current_chain_keyring() -> ChainKeyring:
    if _installed is None:
        raise ChainKeyError("no audit chain key is installed; runtime.start() installs it")
    return _installed
