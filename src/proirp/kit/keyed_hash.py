"""The database's key for keyed hashes, and the hashes made with it (decisions 0033 to 0037).

A value kept encrypted (a client's phone, a message's address, a staff member's email) is found
by an HMAC-SHA256 of it under a random key of the database's own, itself stored encrypted under
the vault (`search_keys`): so key rotation re-encrypts the key and the hashes stay valid, and a
dump without the practice's keys cannot test a guessed value against them. Here, below every
domain, because the staff accounts (`auth`) are found by it as well as the clients."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any, Protocol

from sqlalchemy import String, insert, select
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base

KEY_NAME = "client-identity"  # the key's row (named for what it first found)


class SearchKey(Base):
    """The database's own key for the keyed hashes that find encrypted values, itself stored
    encrypted under the vault (so key rotation re-encrypts it, and the hashes stay valid)."""

    __tablename__ = "search_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[str] = mapped_column(EncryptedText)


class Executes(Protocol):
    """A Session or a Connection."""

    def execute(self, statement: Any, params: Any = None, /) -> Result[Any]: ...

    def begin_nested(self) -> Any: ...


def search_key(db: Executes) -> bytes:
    """The database's key for keyed hashes, made (and kept, in the caller's transaction) the
    first time one is needed. Never cached: a key made in a transaction that is rolled back
    leaves nothing hashed with it behind."""
    read = select(SearchKey.sealed).where(SearchKey.name == KEY_NAME)
    sealed = db.execute(read).scalar()
    if sealed is None:
        fresh = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            with db.begin_nested():
                db.execute(insert(SearchKey).values(name=KEY_NAME, sealed=fresh))
        except IntegrityError:
            pass  # another transaction made it first: theirs is the key
        sealed = db.execute(read).scalar_one()
    return base64.b64decode(sealed)


def exact_hash(key: bytes, kind: str, value: str | None) -> str | None:
    """The keyed hash that finds `value` of a `kind` (a phone in E.164; an email, case aside)
    exactly."""
    if value is None:
        return None
    text = value.lower() if kind == "email" else value
    return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()[:32]
