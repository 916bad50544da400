"""Fixtures for the browser tests: real headless Chromium (Debian's package) driven by Playwright.

Playwright's own browser download is never used: the tests launch
``/usr/bin/chromium`` (``.ci/run`` installs Debian's ``chromium``).

The tests take screenshots; they replace the tracked ``docs/screenshots/*.png``
only on request, with ``SCHEDY_SCREENSHOTS=1``, and otherwise go to each
test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import open_page

CHROMIUM = os.environ.get("SCHEDY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: ``docs/screenshots/`` with ``SCHEDY_SCREENSHOTS=1``, else ``tmp_path``."""
    if os.environ.get("SCHEDY_SCREENSHOTS") == "1":
        return SCREENSHOTS
    return tmp_path / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (or set SCHEDY_CHROMIUM).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, site: Any) -> Iterator[Any]:
    """A logged-in page on the ``site`` of the test's module, failing the test on any error in the page."""
    opened = open_page(chromium, site.url(), site.user)
    yield opened
    assert opened.errors == []
    opened.context.close()
