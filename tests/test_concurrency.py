"""Many requests at once against `proirp serve`: none may wait for a thread while holding a
database lock that the threads are waiting for (that stalled every request for the 30-second busy
timeout on SQLite)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.live import live_stack

REQUESTS = 60


def test_sixty_concurrent_requests_that_read_and_write_all_succeed(tmp_path: Path) -> None:
    with live_stack(tmp_path) as live:

        def call(index: int) -> int:
            with live.api() as api:  # a connection each, as separate browsers would have
                if index % 2:
                    return api.get("/clients").status_code
                body = {"first_name": "Avery", "last_name": f"Q{index}", "timezone": "UTC"}
                return api.post("/clients", json=body).status_code

        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            codes = list(pool.map(call, range(REQUESTS)))
    assert sorted(set(codes)) == [200, 201]
