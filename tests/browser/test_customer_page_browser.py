"""The customer's page in a real headless Chromium: what the customer reads, live updates, the form, 360 px.

Set WARROOM_UPDATE_SCREENSHOT=1 to write docs/customer-page-1280.png and docs/customer-page-360.png (the pictures of
docs/CUSTOMER_PAGE.md).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen

from bot.chat import Invocation
from bot.render import plain_text
from tests.browser.test_dashboard_browser import Site, _started, wait
from tests.conftest import ROOT

INTERNAL = ("Northwind", "RMA-", "Edge router", "sev ", "dana", "lee")


@pytest.fixture(scope="module")
def page_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    served = _started(Site(tmp_path_factory.mktemp("customer-page")))
    yield served
    served.stop()


def command(site: Site, text: str) -> str:
    """Type a command into INC-1's war room (where it is worked on); what it answered (it must succeed)."""
    assert site.session is not None
    session = site.session
    room = next(r.ref for r in session.chat.rooms.values() if r.ref.name.startswith("inc-1-"))
    said: list[str] = []

    async def go() -> None:
        reply = await session.handle(Invocation(text, session.user, room))
        said.extend(plain_text(m) for m in reply.messages)
        assert reply.ok, said

    site.run(go())
    return "\n".join(said)


def share(site: Site, text: str = "share INC-1") -> str:
    """Type `share` into the war room; the path of the link it printed (shown only to the one who asked)."""
    said = command(site, text)
    found = re.search(r"https?://[^/\s]+(/c/[A-Za-z0-9_-]+)", said)
    assert found is not None, said
    return found.group(1)


def live(browser: WebDriver) -> None:
    wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "ready")


def test_the_customer_reads_their_page_at_1280_and_360_px(page_site: Site, browser: WebDriver, tmp_path: Path) -> None:
    path = share(page_site)
    browser.set_window_size(1280, 1000)
    browser.get(page_site.base + path)
    live(browser)
    main = browser.find_element(By.ID, "main").text
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("About ")
    assert "Where things stand" in main and "Our next update to you" in main
    risky = browser.find_elements(By.CSS_SELECTOR, ".promise-at_risk")
    assert risky and "AT RISK" in risky[0].text.upper()
    assert "Chicago" in main or "Central" in main  # times in the incident's zone, in customer words
    for word in INTERNAL:
        assert word not in main, f"the page names {word!r}"
    # a screen reader finds the live region, the headings and the form's label
    assert browser.find_element(By.ID, "live").get_attribute("aria-live") == "polite"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=question]").text
    shots = {}
    shots[1280] = tmp_path / "customer-page-1280.png"
    assert browser.save_screenshot(str(shots[1280]))
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        browser.get(page_site.base + path)
        live(browser)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width}px wide on a 360px screen"
        shots[360] = tmp_path / "customer-page-360.png"
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 360, "height": min(int(height), 2400), "deviceScaleFactor": 1, "mobile": True},
        )
        assert browser.save_screenshot(str(shots[360]))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for width, shot in shots.items():
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("WARROOM_UPDATE_SCREENSHOT") == "1":
            shutil.copy(shot, ROOT / "docs" / f"customer-page-{width}.png")


def test_an_update_sent_shows_without_a_reload_and_the_form_reaches_the_room(
    page_site: Site, browser: WebDriver
) -> None:
    path = share(page_site)
    browser.get(page_site.base + path)
    live(browser)
    before = len(browser.find_elements(By.CSS_SELECTOR, "li.update"))
    browser.execute_script("document.body.setAttribute('data-marker', 'same page')")  # gone if the page reloads
    command(page_site, "update INC-1 sent B2")
    wait(browser).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "li.update")) == before + 1)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-marker") == "same page"

    box = browser.find_element(By.ID, "question")
    box.send_keys("Will the router <b>really</b> come on Friday?")
    browser.find_element(By.CSS_SELECTOR, "#ask button[type=submit]").click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "ask"), "the team has your message"))
    posts = [p.text for p in page_site.session.chat.posts]  # type: ignore[attr-defined]
    asked = [p for p in posts if "asks, from their page" in p]
    assert asked and "> Will the router <b>really</b> come on Friday?" in asked[-1]


def test_a_revoked_link_is_gone_at_once(page_site: Site, browser: WebDriver) -> None:
    path = share(page_site)
    browser.get(page_site.base + path)
    live(browser)
    number = max(int(n) for n in re.findall(r"link (\d+):", command(page_site, "share INC-1 list")))
    command(page_site, f"share INC-1 revoke {number}")
    browser.get(page_site.base + path)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
