"""The dashboard in real headless Chromium (Debian's, driven by Playwright): sign in, watch
a delivery arrive without reloading, open it, read its trace, replay it, and watch the new
job's log stream to its end. Screenshots of the run go to $HOOKD_SCREENSHOTS when it is set
(`HOOKD_SCREENSHOTS=docs/screenshots` refreshes the README's), else to a temporary folder."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import weblive
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from weblive import PY, SECRET, TOKEN, accepted, push

from conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Six lines 0.4 s apart, then a seventh: long enough to watch arrive.
DEPLOY = (
    "import time\\nfor i in range(1, 7):\\n print(f'deploy step {i}/6', flush=True)\\n"
    " time.sleep(0.4)\\nprint('site is live')"
)
CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
  token: {TOKEN}
endpoints:
  github:
    forge: github
    secret: "{SECRET}"
hooks:
  deploy:
    on: {{push: {{branches: [main]}}}}
    run: [{PY}, "-c", "{DEPLOY}"]
  release-notes:
    on: {{release: {{types: [published]}}}}
    run: [{PY}, "-c", "print('notes')"]
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    folder = tmp_path / "server"
    folder.mkdir()
    with weblive.serving(folder, CONFIG, "--workers", "1") as server:
        yield server


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile; Playwright never downloads a browser here."""
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 860},
        )
        try:
            yield context
        finally:
            context.close()


def shoot(page: Page, name: str, folder: Path) -> None:
    target = Path(os.environ.get("HOOKD_SCREENSHOTS") or folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_sign_in_watch_a_delivery_arrive_replay_it_and_follow_the_log(
    live: LiveServer, browser: BrowserContext, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live.url}/")
    expect(page).to_have_url(f"{live.url}/login?next=%2F")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Deliveries")
    page.evaluate("window.stillTheSamePage = true")

    first = accepted(live.url, "push", push("acme/website"))
    accepted(
        live.url, "release", {"action": "published", "repository": {"full_name": "acme/website"}}
    )
    row = page.locator(f'tr[data-id="{first["id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("acme/website")
    expect(row).to_contain_text("deploy")
    assert page.evaluate("window.stillTheSamePage") is True, "the page reloaded"
    expect(page.locator("tbody tr")).to_have_count(2)
    shoot(page, "deliveries", tmp_path)

    row.locator("a").first.click()
    expect(page.locator("#trace li.matched")).to_contain_text("deploy")
    expect(page.locator("#trace li.skipped")).to_contain_text("release-notes")
    expect(page.locator("#headers")).to_contain_text("[redacted]")
    shoot(page, "delivery", tmp_path)

    page.click("button:has-text('Replay')")
    expect(page.locator(".facts")).to_contain_text("Replay of")
    page.locator("#jobs a").first.click()
    log = page.locator("pre#log")
    expect(log).to_have_attribute("data-stream", re.compile(r"^/api/jobs/\w+/log\?offset=\d+$"))
    expect(log).to_contain_text("deploy step 3/6")
    assert "site is live" not in log.inner_text(), "the log arrived all at once, not as it ran"
    shoot(page, "job-running", tmp_path)
    expect(log).to_contain_text("site is live")
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#job-exit")).to_have_text("0")
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator("#job-finished time")).to_be_visible()
    expect(page.locator("#refresh")).to_be_hidden()
    shoot(page, "job", tmp_path)

    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{live.url}/")
    expect(phone.locator(f'tr[data-id="{first["id"]}"]')).to_be_visible()
    shoot(phone, "deliveries-phone", tmp_path)
