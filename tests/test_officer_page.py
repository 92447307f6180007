"""The officer page in a real browser (Debian Chromium via Playwright) against the live API and real tickets."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORDS, LiveServer, bearer, settings_for

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
def own_api(chain: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A copy of the chain's tickets and evidence behind an API of its own: what a test here decides or
    tampers with stays out of every other test."""
    database = tmp_path / "api.db"
    with sqlite3.connect(chain["root"] / "api.db") as source, sqlite3.connect(database) as copy:
        source.backup(copy)
    shutil.copytree(chain["root"] / "evidence", tmp_path / "evidence")
    settings = settings_for(
        tmp_path,
        database_url=f"sqlite:///{database}",
        trusted_keys_dir=chain["root"] / "keys",  # the chain's pipeline signed with its key there
    )
    with LiveServer(settings) as live:
        yield {"url": live.url, "evidence": tmp_path / "evidence"}


@pytest.fixture
def page(own_api: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=own_api["url"], viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def sign_in(page: Any, username: str, password: str | None = None) -> None:
    """Through the page's own sign-in dialog (it opens when the page is refused for lack of a token)."""
    dialog = page.locator("dialog#signin")
    dialog.wait_for()
    dialog.locator("input[name=username]").fill(username)
    dialog.locator("input[name=password]").fill(password or PASSWORDS[username])
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("#whoami .user")


def test_the_page_asks_to_sign_in_and_refuses_a_wrong_password(page: Any) -> None:
    page.goto("/officer")
    dialog = page.locator("dialog#signin")
    dialog.wait_for()
    assert page.locator("article.ticket").count() == 0  # nothing is shown before signing in
    dialog.locator("input[name=username]").fill("officer")
    dialog.locator("input[name=password]").fill("not the password")
    dialog.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector('#signin .error').textContent.includes('登录失败')")
    assert page.locator("article.ticket").count() == 0


def test_officer_sees_evidence_and_confirms_a_ticket(page: Any, own_api: dict[str, Any]) -> None:
    page.goto("/officer")
    sign_in(page, "officer")
    page.wait_for_selector("article.ticket")
    assert "officer" in page.locator("#whoami").inner_text()
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
    assert page.locator("#message").inner_text() == "请填写审核意见"  # no reason yet: nothing is sent

    stall.locator("textarea.reason").fill("店外堆放货物占用人行道，现场核实")
    stall.locator("button.confirm").click()
    page.wait_for_selector("article.ticket .status.confirmed")
    assert "officer" in page.locator("article.ticket", has_text="占道经营").locator(".decision").inner_text()

    ticket_id = int(page.locator("article.ticket", has_text="占道经营").get_attribute("data-ticket-id"))
    body = httpx.get(f"{own_api['url']}/api/v1/tickets/{ticket_id}", headers=bearer("auditor")).json()
    assert body["status"] == "confirmed"
    assert (body["decisions"][0]["actor"], body["decisions"][0]["actor_role"]) == ("officer", "officer")
    assert body["decisions"][0]["reason"] == "店外堆放货物占用人行道，现场核实"
    # The violation's end arrived: the card says when it ended, in Beijing time.
    assert "结束于" in page.locator("article.ticket", has_text="占道经营").locator(".time").inner_text()


def test_evidence_that_fails_its_hash_is_flagged_and_cannot_be_confirmed(page: Any, own_api: dict[str, Any]) -> None:
    tickets = httpx.get(f"{own_api['url']}/api/v1/tickets", headers=bearer("officer")).json()["items"]
    bike = next(t for t in tickets if t["kind"] == "shared_bike_misparked")
    snapshot = next(a for a in bike["artifacts"] if a["kind"] == "snapshot")["sha256"]
    stored = own_api["evidence"] / "objects" / snapshot[:2] / snapshot
    stored.chmod(0o644)
    stored.write_bytes(b"altered after sealing")
    page.goto("/officer")
    sign_in(page, "officer")
    card = page.locator(f"article.ticket[data-ticket-id='{bike['id']}']")
    card.locator(".warning").wait_for()
    assert "证据校验失败" in card.locator(".warning").inner_text()
    assert card.locator("button.confirm").is_disabled()
    other = page.locator("article.ticket", has_text="占道经营")
    assert other.locator(".warning").count() == 0 and other.locator("button.confirm").is_enabled()


def test_english_toggle(page: Any) -> None:
    page.goto("/officer")
    sign_in(page, "officer")
    page.wait_for_selector("article.ticket")
    page.click("#lang-toggle")
    page.wait_for_function("document.querySelector('h1').textContent.startsWith('Non-site')")
    assert page.locator("#lang-toggle").inner_text() == "中文"
    page.wait_for_selector("article.ticket >> text=Misparked shared bike")


def test_an_officer_confirms_then_an_auditor_sees_the_decision_verified(page: Any, own_api: dict[str, Any]) -> None:
    page.goto("/officer")
    sign_in(page, "officer")
    stall = page.locator("article.ticket", has_text="占道经营")
    ticket_id = stall.get_attribute("data-ticket-id")
    stall.locator("textarea.reason").fill("店外堆放货物占用人行道，现场核实")
    stall.locator("button.confirm").click()
    page.wait_for_selector("article.ticket .status.confirmed")
    page.click("#sign-out")
    page.locator("dialog#signin").wait_for()  # signed out (the cookie is gone) before leaving the page

    page.goto("/audit")
    sign_in(page, "auditor")
    page.click(f"#cases button[data-ticket-id='{ticket_id}']")
    verdict = page.locator(".case .verdict")
    page.wait_for_function("document.querySelector('.case .verdict')?.classList.contains('pass')")
    assert verdict.inner_text().startswith("核验通过")
    checks = page.locator(".checks tbody tr")
    assert checks.count() == 9 and page.locator(".checks td.fail").count() == 0
    page.wait_for_selector(".timeline tr[data-action='ticket.confirmed']")
    decided = page.locator(".timeline tr[data-action='ticket.confirmed']").inner_text()
    assert "officer" in decided and "确认违法" in decided and "现场核实" in decided
    assert page.locator(".timeline tr[data-action='ticket.created']").count() == 1
    assert page.locator("a.export").get_attribute("href") == f"/api/v1/tickets/{ticket_id}/export"
    page.click("#verify-log")
    page.wait_for_function("document.querySelector('#log-result').classList.contains('pass')")
    page.click("#lang-toggle")
    page.wait_for_function("document.querySelector('h1').textContent.startsWith('Non-site')")
    page.wait_for_function("document.querySelector('.case .verdict')?.textContent.startsWith('Verified')")


def test_the_auditor_page_names_evidence_altered_in_the_store(page: Any, own_api: dict[str, Any]) -> None:
    tickets = httpx.get(f"{own_api['url']}/api/v1/tickets", headers=bearer("auditor")).json()["items"]
    bike = next(t for t in tickets if t["kind"] == "shared_bike_misparked")
    snapshot = next(a for a in bike["artifacts"] if a["kind"] == "snapshot")["sha256"]
    stored = own_api["evidence"] / "objects" / snapshot[:2] / snapshot
    stored.chmod(0o644)
    stored.write_bytes(b"altered after sealing")
    page.goto("/audit")
    sign_in(page, "auditor")
    page.click(f"#cases button[data-ticket-id='{bike['id']}']")
    page.wait_for_function("document.querySelector('.case .verdict')?.classList.contains('fail')")
    failed = page.locator(".checks tr", has=page.locator("td.fail"))
    assert failed.count() == 1 and failed.get_attribute("data-check") == "files"
    assert snapshot in failed.inner_text()
