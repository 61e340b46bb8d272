"""Playwright for Python driving Debian's Chromium through the UI, with an accessibility check
(axe-core, run in the page) and a screenshot of each page the tests visit.

Without the browser the tests skip, saying why; with PROIRP_REQUIRE_SERVICES=1 (CI) that skip is
a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.databases import services_required

CHROMIUM = os.environ.get("PROIRP_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("PROIRP_SCREENSHOT_DIR", "build/screenshots"))
# What the accessibility check refuses (axe-core's impact levels).
REFUSED_IMPACTS = frozenset({"serious", "critical"})
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_missing_reason() -> str | None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


def require_chromium() -> None:
    reason = chromium_missing_reason()
    if reason is None:
        return
    if services_required():
        pytest.fail(f"{reason}, and PROIRP_REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in REFUSED_IMPACTS:
            targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


def check_page(page: Any, name: str) -> None:
    """Save a screenshot of the page (desktop and phone width) and fail on any serious or
    critical accessibility finding, at either width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    found = serious_violations(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    found += [f"at phone width: {line}" for line in serious_violations(page)]
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)
    assert not found, f"accessibility findings on {name}:\n" + "\n".join(found)
