"""The push channel in chromium: two agents in separate browser contexts see a new chat, its
messages and each other's accept without reloading, with the new-chat hooks (sound,
notification, the count in the tab title) fired, and the pages never poll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.agents.conftest import BROWSER_ON_SQLITE, PHONE
from tests.agents.test_workspace_browser import served  # noqa: F401 - the fixture
from tests.support.browser import screenshot_dir

pytestmark = BROWSER_ON_SQLITE
TIMEOUT = 10_000


def signed_in(browser, base_url: str, user_name: str):
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=base_url)
    page = context.new_page()
    page.goto(f"{base_url}/agent/login")
    page.fill("input[name=user_name]", user_name)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "1", timeout=TIMEOUT)
    expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=TIMEOUT)
    page.evaluate("window.parleyNotReloaded = true")
    return page


@pytest.fixture
def agents(browser, served):  # noqa: F811
    base_url = served[0]
    pages = {name: signed_in(browser, base_url, name) for name in ("beth", "fred")}
    yield pages
    for page in pages.values():
        page.context.close()


def test_a_new_chat_and_its_messages_reach_both_agents_without_reload(served, agents):  # noqa: F811
    _base_url, twilio, _store = served
    beth, fred = agents["beth"], agents["fred"]
    polled = []
    for page in (beth, fred):
        page.on("request", lambda r: polled.append(r.url) if "/api/" in r.url
                and "/api/events" not in r.url and "/api/queue" not in r.url else None)

    twilio.text(PHONE, "agent")
    for page in (beth, fred):
        expect(page.locator("#waiting tr", has_text=PHONE)).to_have_count(1, timeout=TIMEOUT)
        expect(page).to_have_title("(1) Queue · Parley", timeout=TIMEOUT)
        body = page.locator("body")
        expect(body).to_have_attribute("data-sounds", "1")
        expect(body).to_have_attribute("data-notifications", "1")

    beth.locator("#waiting button.accept").click()
    beth.wait_for_url("**/agent/conversations/*", timeout=TIMEOUT)
    expect(beth.locator("#chat-state")).to_have_text("You are handling this chat.",
                                                     timeout=TIMEOUT)
    expect(beth.locator("body")).to_have_attribute("data-live", "open", timeout=TIMEOUT)
    # Fred's queue empties, and his title says nobody waits, without a reload.
    expect(fred.locator("#waiting tr")).to_have_count(0, timeout=TIMEOUT)
    expect(fred).to_have_title("Queue · Parley", timeout=TIMEOUT)

    twilio.text(PHONE, "the printer is smoking")
    expect(beth.locator("#messages li", has_text="the printer is smoking")) \
        .to_have_count(1, timeout=TIMEOUT)
    beth.fill("#reply-body", "Unplug it, please")
    beth.press("#reply-body", "Enter")
    expect(beth.locator("#messages li", has_text="Unplug it, please")) \
        .to_have_count(1, timeout=TIMEOUT)
    beth.screenshot(path=str(screenshot_dir() / "workspace-push-chat.png"), full_page=True)
    assert fred.evaluate("window.parleyNotReloaded") is True
    # Only the chat's first snapshot was fetched: what came later was pushed.
    assert len([url for url in polled if "/api/conversations/" in url]) == 1
