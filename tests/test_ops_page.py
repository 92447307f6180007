"""The operations-centre page in a real browser (Debian Chromium via Playwright): an alert pushed by the
server appears while `nonsite run` analyses the real clips, next to the channel grid and today's counts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, LiveServer, settings_for, write_sample_config
from tests.test_officer_page import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (`make test` installs it as root)"),
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real footage not found at {DATA}"),
]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    settings = settings_for(tmp_path, alert_poll_s=0.2)
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def page(live: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=live.url, viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def test_an_alert_appears_on_the_operations_page_while_the_clips_are_analysed(
    page: Any, live: LiveServer, tmp_path: Path
) -> None:
    from pipeline.cli import main

    page.goto("/ops")
    assert page.locator("h1").inner_text() == "城运中心 · 实时监控"
    sign_in(page, "operator")
    page.wait_for_selector("#stream-state.live")  # subscribed before anything was filed
    assert page.locator("li.alert").count() == 0
    config = write_sample_config(tmp_path, api_url=live.url)
    config.write_text(config.read_text(encoding="utf-8").replace("health_interval_s: 5", "health_interval_s: 1"))
    result: dict[str, int] = {}
    run = threading.Thread(target=lambda: result.update(code=main(["run", "--config", str(config)])))
    run.start()
    try:
        page.wait_for_selector("li.alert", timeout=120_000)
        still_running = run.is_alive()
    finally:
        run.join(timeout=300)
    assert result.get("code") == 0
    assert still_running, "the alert should arrive while the clips are still being analysed, not after"
    first = page.locator("li.alert").first
    assert any(kind in first.inner_text() for kind in ("占道经营", "共享单车乱停放"))
    page.wait_for_function("document.querySelectorAll('li.alert').length === 2", timeout=30_000)
    page.wait_for_function(
        "[...document.querySelectorAll('li.alert img.thumb')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # The grid shows both cameras with a real snapshot and the time analysed in each rule's window.
    page.wait_for_selector("article.channel[data-camera='hunan-street-27'] img.snapshot[src]", timeout=30_000)
    tiles = page.locator("article.channel")
    assert tiles.count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('article.channel img.snapshot[src]')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert "已分析" in tiles.first.locator("ul.windows").inner_text()
    page.wait_for_function("document.querySelector('#today-counts .total').textContent.trim() === '合计 2'")
    page.click("#lang-toggle")
    assert page.locator("h1").inner_text() == "Operations centre · Live"
    # The counts are fetched again in the new language: wait for them rather than read them at once.
    page.wait_for_function("document.querySelector('#today-counts').textContent.includes('Total 2')")
    assert any(
        kind in page.locator("li.alert").first.inner_text() for kind in ("Street stall", "Misparked shared bike")
    )
