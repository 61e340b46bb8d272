"""Every call the adapters make to a provider, timed and its failures counted by code.

`@provider_call(PROVIDER, "send")` on an adapter's method (or `with provider_call(...)` around
one request) observes `proirp_provider_call_seconds{provider, operation}` and, when it raises,
`proirp_provider_errors_total{provider, code}`: the provider's code (Twilio's 21211, an HTTP
status, invalid_grant), or the kind of failure when the provider said nothing. The operation is
the adapter's own word for the call, never anything from the request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from proirp.integrations.base import (
    ProviderAmbiguousError,
    ProviderError,
    ProviderMisconfigured,
    ProviderTemporaryError,
)
from proirp.kit.metrics import PROVIDER_CALL_SECONDS, PROVIDER_ERRORS, error_code_label


def _failure_code(exc: Exception) -> str:
    if not isinstance(exc, ProviderError):
        return "internal"  # not the provider's doing: an error of ours inside the adapter
    if isinstance(exc, ProviderMisconfigured):
        kind = "misconfigured"
    elif isinstance(exc, ProviderAmbiguousError):
        kind = "no_answer"
    elif isinstance(exc, ProviderTemporaryError):
        kind = "unreachable"
    else:
        kind = "refused"
    return error_code_label(exc.code, otherwise=kind)


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
    """Time one call to `provider`; count it by its code if it fails. Usable as a decorator."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        PROVIDER_ERRORS.labels(provider=provider, code=_failure_code(exc)).inc()
        raise
    finally:
        elapsed = time.perf_counter() - started
        PROVIDER_CALL_SECONDS.labels(provider=provider, operation=operation).observe(elapsed)
