"""API keys as OpenAI and Stripe quote a wrong one back in a 401: its first few characters and
its last four, the rest as asterisks.

A key too short to hide at least MIN_HIDDEN characters that way shows fewer (only its start, or
nothing), so a refusal never carries a whole key, however short, into a log line.
"""

from __future__ import annotations

import hmac

VISIBLE_TAIL = 4
MIN_HIDDEN = 8


def mask_key(key: str, *, head: int) -> str:
    """`key` with all but its first `head` and last four characters replaced by `*`."""
    tail = VISIBLE_TAIL if len(key) - head - VISIBLE_TAIL >= MIN_HIDDEN else 0
    if len(key) - head - tail < MIN_HIDDEN:
        head = 0
    hidden = len(key) - head - tail
    return key[:head] + "*" * hidden + key[len(key) - tail :]


def same_key(given: str, expected: str) -> bool:
    """Whether two keys are equal, compared in constant time so timing reveals nothing."""
    return hmac.compare_digest(given.encode(), expected.encode())
