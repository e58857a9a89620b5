"""A real headless Chromium signs in to the dashboard through the fake OpenID provider, sees the protected page,
and signs out with the page's own form (its CSRF token). Skipped with the reason when Chromium or selenium is
missing; a failure instead when WARROOM_REQUIRE_BROWSER=1."""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.web.auth import csrf_token, install
from bot.clock import SystemClock
from bot.config import Settings
from tests.fake_oidc import FakeOidc, fake_oidc, serving, sign_in_settings

CHROMIUM = Path(os.environ.get("WARROOM_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("WARROOM_CHROMEDRIVER", "/usr/bin/chromedriver"))
PATIENCE = 20  # seconds for a page to show what we wait for


def _unavailable(reason: str) -> None:
    if os.environ.get("WARROOM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but WARROOM_REQUIRE_BROWSER=1")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by chromedriver from Debian's packages (never downloaded)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _unavailable(f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):  # fmt: skip
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except Exception as err:  # a broken install: one clear reason instead of an error in the test
        _unavailable(f"Chromium would not start: {err}")
    try:
        yield driver
    finally:
        driver.quit()


async def protected(request: web.Request) -> web.Response:
    """Stands in for a dashboard page: who is signed in, and a sign-out form carrying the CSRF token."""
    viewer = request["viewer"]
    body = (
        f"<!doctype html><title>probe</title><p id=who>Signed in as {html.escape(viewer.name)}"
        f" ({html.escape(viewer.email)})</p><form method=post action=/auth/sign-out>"
        f"<input type=hidden name=csrf_token value={html.escape(csrf_token(request))}>"
        "<button id=out>Sign out</button></form>"
    )
    return web.Response(text=body, content_type="text/html")


async def test_chromium_signs_in_through_the_provider_lands_on_the_page_and_signs_out(chromium: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shows
    from selenium.webdriver.support.ui import WebDriverWait

    clock = SystemClock()
    async with fake_oidc(FakeOidc(clock=clock)) as provider:
        application = web.Application()
        install(application, Settings(web=sign_in_settings(provider)), clock=clock)
        application.router.add_get("/incidents/{ref}", protected, name="dashboard.probe")
        async with serving(application) as base:

            def browse() -> tuple[str, str, str]:
                chromium.get(f"{base}/incidents/inc-1")
                wait = WebDriverWait(chromium, PATIENCE)
                wait.until(shows.text_to_be_present_in_element((By.ID, "who"), "Signed in as"))
                landed, who = chromium.current_url, chromium.find_element(By.ID, "who").text
                chromium.find_element(By.ID, "out").click()
                wait.until(shows.text_to_be_present_in_element((By.TAG_NAME, "body"), "You are signed out"))
                chromium.get(f"{base}/incidents/inc-1")  # signed out: off to the provider, which signs in again
                wait.until(shows.text_to_be_present_in_element((By.ID, "who"), "Signed in as"))
                return landed, who, chromium.current_url

            landed, who, again = await asyncio.to_thread(browse)

    assert landed == f"{base}/incidents/inc-1" == again
    assert who == "Signed in as Sam <Ops> Lee (sam@acme.example)"
    assert len(provider.token_requests) == 2  # signed out for real: the second visit had to sign in again
