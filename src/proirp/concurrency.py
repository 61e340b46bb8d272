"""How many requests `proirp serve` works on at once, and the threads they run on.

Plain (non-async) handlers and their dependencies run on a thread pool, one hop at a time, and a
request can hold a database transaction between two hops (between its handler and the answer's
serialisation, for one). On SQLite every transaction holds the write lock; on PostgreSQL it may
hold row locks. If every thread were taken by requests waiting for that lock, the holder could
never get a thread to finish: all would stall until the busy timeout. So the server admits fewer
requests than there are threads (more answer 503 `overloaded` at once, with Retry-After:
kit/admission.py), and the holder always finds one.
"""

from __future__ import annotations

import anyio.to_thread

MAX_CONCURRENT_REQUESTS = 100
# Providers' webhooks are admitted apart (kit/admission.py), so staff requests filling the server
# never refuse a status callback; a callback is one insert, answered at once (comms/sms/intake.py).
MAX_CONCURRENT_WEBHOOKS = 40
# Open connections uvicorn accepts (idle keep-alive ones included): a bound on file descriptors,
# well above the requests at once, so signed-in users keeping their connections are not refused.
MAX_OPEN_CONNECTIONS = 2000
THREADS = MAX_CONCURRENT_REQUESTS + MAX_CONCURRENT_WEBHOOKS + 20


def size_thread_pool() -> None:
    """Give the running event loop's thread pool THREADS threads (call inside the loop)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
