"""The workspace's wording as an agent reads it, in chromium: presence, chat states, the
"Recently ended" list. The runtime is served on 127.0.0.1 without its sender (nothing here
needs a message to leave), and the user's texts are signed Twilio webhooks."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.agents.conftest import BROWSER_ON_SQLITE, PASSWORD, PHONE, serving
from tests.support.browser import screenshot_dir

pytestmark = BROWSER_ON_SQLITE
TIMEOUT = 10_000  # ms: the pages poll every 1.5 to 2 s


@pytest.fixture
def served(tmp_path, database_url):
    with serving(tmp_path, database_url) as served:
        yield served


def test_the_workspace_says_what_happened_in_words(served, page):
    base_url, twilio, _store = served
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base_url}/agent/login")
    page.fill("input[name=user_name]", "beth")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#presence")).to_have_text("1 agent signed in", timeout=TIMEOUT)

    twilio.text(PHONE, "hello")
    twilio.text(PHONE, "agent")
    page.locator("#waiting button.accept").click(timeout=TIMEOUT)
    state = page.locator("#chat-state")
    expect(state).to_have_text("You are handling this chat.", timeout=TIMEOUT)

    # The user texts MENU: the agent sees the chat end, and why, without reloading.
    twilio.text(PHONE, "MENU")
    expect(state).to_have_text("This chat has ended: the user texted MENU and went back to "
                               "the bot.", timeout=TIMEOUT)
    expect(page.locator("#messages li", has_text="You've left the chat with Beth Anglin.")) \
        .to_have_count(1, timeout=TIMEOUT)
    expect(page.locator("#send")).to_be_disabled()
    page.screenshot(path=str(screenshot_dir() / "workspace-chat-left.png"), full_page=True)

    page.click("a.brand")
    ended = page.locator("#ended li")
    expect(ended).to_have_count(1, timeout=TIMEOUT)
    expect(ended.locator("a")).to_have_text(PHONE)
    expect(ended.locator(".outcome")).to_have_text(
        "the user texted MENU and went back to the bot")
    expect(page.locator("#ended-empty")).to_be_hidden()
    # A link styled as the workspace's links, not the browser's default blue and purple.
    color = ended.locator("a").evaluate("a => getComputedStyle(a).color")
    assert color == "rgb(31, 95, 153)"
    assert ended.evaluate("li => getComputedStyle(li).display") == "grid"
    page.screenshot(path=str(screenshot_dir() / "workspace-queue.png"), full_page=True)
    assert problems == []
