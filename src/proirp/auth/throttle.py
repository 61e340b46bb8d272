"""The login limits, counted in the database so that every process shares them (see
docs/decisions/0010-sign-in-defences.md).

- Per account and address: LOGIN_MAX_FAILURES failures in the window hold back that address's
  tries on that account (one person mistyping holds back no one else).
- Per address: LOGIN_MAX_FAILURES_PER_ADDRESS failures on any accounts hold back the address.
- Per account: past LOGIN_MAX_FAILURES failures at other addresses, the account takes one guess
  per address in the window. Guessing from many addresses slows down, while the owner, from an
  address that has not failed on it, still signs in: failures never lock the account itself.

A try takes its place in the counts before the password is checked, in one statement per count
(`repository.add_hit`), so tries at once cannot all slip under a limit; a try that succeeds, or
is held back, gives its place back.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from proirp.auth import repository
from proirp.config import Settings
from proirp.kit.time import utcnow


@dataclass(frozen=True)
class _Keys:
    pair: str
    address: str
    account: str


@dataclass(frozen=True)
class LoginAttempt:
    """A try at signing in: let through to the password check, or held back for `retry_after`
    seconds."""

    keys: _Keys
    retry_after: int | None = None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        self._window = timedelta(seconds=settings.login_failure_window_seconds)
        self._per_account = settings.login_max_failures
        self._per_address = settings.login_max_failures_per_address

    @staticmethod
    def _keys(email: str, ip: str | None) -> _Keys:
        email, address = email.lower(), ip or "unknown"
        return _Keys(
            pair=f"pair:{_digest(email, address)}",
            address=f"address:{_digest(address)}",
            account=f"account:{_digest(email)}",
        )

    def admit(self, session: Session, email: str, ip: str | None) -> LoginAttempt:
        """Take this try's place in the counts, or say how long it must wait."""
        keys, now = self._keys(email, ip), utcnow()
        pair = repository.add_hit(
            session, keys.pair, limit=self._per_account, window=self._window, now=now
        )
        if pair is None:
            return self._held_back(session, keys, keys.pair, now)
        address = repository.add_hit(
            session, keys.address, limit=self._per_address, window=self._window, now=now
        )
        if address is None:
            repository.take_back_hit(session, keys.pair)
            return self._held_back(session, keys, keys.address, now)
        account = repository.current_count(session, keys.account, now=now)
        # The account's failures at other addresses (this one's are the pair's, less this try).
        if account and account.hits - (pair.hits - 1) >= self._per_account and pair.hits > 1:
            # Guessed at from elsewhere, and this address has had its guess: wait for a window.
            repository.take_back_hit(session, keys.pair)
            repository.take_back_hit(session, keys.address)
            wait_until = min(account.window_ends_at, pair.window_ends_at)
            return LoginAttempt(keys, _seconds_until(wait_until, now))
        return LoginAttempt(keys)

    def _held_back(self, session: Session, keys: _Keys, full: str, now: datetime) -> LoginAttempt:
        count = repository.current_count(session, full, now=now)
        return LoginAttempt(keys, _seconds_until(count.window_ends_at, now) if count else 1)

    def record_failure(self, session: Session, attempt: LoginAttempt) -> None:
        """The password was wrong: the try keeps its places, and the account counts it."""
        repository.add_hit(
            session, attempt.keys.account, limit=None, window=self._window, now=utcnow()
        )

    def record_first_factor(self, session: Session, attempt: LoginAttempt) -> None:
        """The password was right, and a second factor is still to come: the try gives its
        places back and forgives nothing, so that codes cannot be guessed between passwords."""
        repository.take_back_hit(session, attempt.keys.pair)
        repository.take_back_hit(session, attempt.keys.address)

    def record_success(self, session: Session, attempt: LoginAttempt) -> None:
        """Signed in: the account's failures are forgiven (its owner is here), and the address
        gets its place back."""
        repository.forget_count(session, attempt.keys.pair)
        repository.forget_count(session, attempt.keys.account)
        repository.take_back_hit(session, attempt.keys.address)
