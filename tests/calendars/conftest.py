"""A live stack shared by the calendar tests of a module, with the sandbox's Google and Microsoft
reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import LiveStack, live_stack


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("calendar-live")) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _fresh_google(request: pytest.FixtureRequest) -> None:
    if "live" in request.fixturenames:
        live: LiveStack = request.getfixturevalue("live")
        with live.google() as google:
            google.post("/reset").raise_for_status()
        with live.microsoft() as microsoft:
            microsoft.post("/reset").raise_for_status()
