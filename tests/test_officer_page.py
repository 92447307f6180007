"""The officer page in a real browser (Debian Chromium via Playwright) against the live API and real tickets."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (`make test` installs it as root)"),
]
# Flags for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def page(chain: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=chain["url"], viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def test_officer_sees_evidence_and_confirms_a_ticket(page: Any, chain: dict[str, Any]) -> None:
    page.goto("/officer")
    page.wait_for_selector("article.ticket")
    cards = page.locator("article.ticket")
    assert cards.count() == 2
    assert page.locator("h1").inner_text() == "非现场执法 · 违法线索审核"
    # Every snapshot really loaded; every clip is decodable by the browser.
    page.wait_for_function(
        "[...document.querySelectorAll('img.snapshot')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.wait_for_function(
        "[...document.querySelectorAll('video.clip')].every(v => v.readyState >= 1 && v.duration > 3)"
    )

    stall = page.locator("article.ticket", has_text="占道经营")
    stall.locator("button.confirm").click()
    assert page.locator("#message").inner_text() == "请填写审核人"  # no officer name yet: nothing is sent

    page.fill("#actor", "officer-007")
    stall.locator("textarea.reason").fill("店外堆放货物占用人行道，现场核实")
    stall.locator("button.confirm").click()
    page.wait_for_selector("article.ticket .status.confirmed")
    assert "officer-007" in page.locator("article.ticket", has_text="占道经营").locator(".decision").inner_text()

    ticket_id = int(page.locator("article.ticket", has_text="占道经营").get_attribute("data-ticket-id"))
    body = httpx.get(f"{chain['url']}/api/v1/tickets/{ticket_id}").json()
    assert body["status"] == "confirmed"
    assert body["decisions"][0]["actor"] == "officer-007"
    assert body["decisions"][0]["reason"] == "店外堆放货物占用人行道，现场核实"


def test_english_toggle(page: Any) -> None:
    page.goto("/officer")
    page.wait_for_selector("article.ticket")
    page.click("#lang-toggle")
    page.wait_for_function("document.querySelector('h1').textContent.startsWith('Non-site')")
    assert page.locator("#lang-toggle").inner_text() == "中文"
    page.wait_for_selector("article.ticket >> text=Misparked shared bike")
