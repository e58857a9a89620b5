"""A real headless Chromium (Debian's chromium and chromedriver), driven by Selenium.

Skipped with the reason when the browser is not installed; a failure instead when WARROOM_REQUIRE_BROWSER=1 (CI).
Selenium is told exactly which binaries to use, so it never tries to download a driver.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_BROWSER = os.environ.get("WARROOM_REQUIRE_BROWSER") == "1"
WINDOW = (1600, 1000)  # wide enough for the overview's tables side by side: the screenshot in the README


def _binary(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Chromium in a wide window; quits at the end of the session."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        if REQUIRE_BROWSER:
            pytest.fail(f"selenium is required (WARROOM_REQUIRE_BROWSER=1) but cannot be imported: {err}")
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    chromium = _binary("WARROOM_CHROMIUM", "chromium", "chromium-browser")
    driver_path = _binary("WARROOM_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        reason = "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        if REQUIRE_BROWSER:
            pytest.fail(f"{reason}, but WARROOM_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",  # nothing but the dashboard on 127.0.0.1
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as err:  # a broken install: say so rather than erroring in every test
        if REQUIRE_BROWSER:
            pytest.fail(f"Chromium would not start (WARROOM_REQUIRE_BROWSER=1): {err}")
        pytest.skip(f"Chromium would not start: {err}")
    try:
        yield driver
    finally:
        driver.quit()
