"""The agent's tools in chromium, by keyboard: the ? overlay, accept (a), a saved reply with
variables inserted by typing /name, the SMS count under the reply box, send (Enter), next
chat (n) and end (e), then search."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.agents.conftest import BROWSER_ON_SQLITE, GUEST, PHONE
from tests.agents.test_workspace import link_abel
from tests.agents.test_workspace_browser import served  # noqa: F401 - the fixture
from tests.support.browser import screenshot_dir

pytestmark = BROWSER_ON_SQLITE
TIMEOUT = 10_000


def test_a_chat_worked_from_the_keyboard(served, page):  # noqa: F811
    base_url, twilio, store = served
    link_abel(store)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())  # "End this chat?"
    page.goto(f"{base_url}/agent/login")
    page.fill("input[name=user_name]", "beth")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.goto(f"{base_url}/agent/replies")
    page.fill("#reply-name", "hi")
    page.fill("#reply-text", "Hello {{ user.display_name }}, {{ agent.display_name }} here: "
                             "case {{ case.number }} is in hand.")
    page.click("form.stacked button[type=submit]")
    expect(page.locator("#replies code", has_text="/hi")).to_be_visible()

    page.click("a.brand")
    expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=TIMEOUT)
    twilio.text(GUEST, "agent")
    twilio.text(PHONE, "agent")
    expect(page.locator("#waiting tr")).to_have_count(2, timeout=TIMEOUT)
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    page.keyboard.press("a")  # the one waiting longest: the guest
    page.wait_for_url("**/agent/conversations/*", timeout=TIMEOUT)
    expect(page.locator("h1")).to_contain_text(GUEST)
    expect(page.locator("#chat")).to_have_attribute("data-loaded", "1", timeout=TIMEOUT)
    page.keyboard.press("n")  # no other chat of mine: the next one waiting
    expect(page.locator("h1")).to_contain_text(PHONE, timeout=TIMEOUT)
    expect(page.locator("#chat")).to_have_attribute("data-loaded", "1", timeout=TIMEOUT)
    page.keyboard.press("a")
    expect(page.locator("#chat-state")).to_have_text("You are handling this chat.",
                                                     timeout=TIMEOUT)

    page.keyboard.press("/")
    expect(page.locator("#reply-body")).to_be_focused()
    page.keyboard.type("h")
    expect(page.locator("#reply-suggestions li")).to_have_count(1, timeout=TIMEOUT)
    page.keyboard.press("Enter")  # inserts, does not send
    case = store.query_records("cases", where={"opened_by": "abel.tuter"},
                               order_by="-opened_at", limit=1)[0]["number"]
    text = f"Hello Abel Tuter, Beth Anglin here: case {case} is in hand."
    expect(page.locator("#reply-body")).to_have_value(text)
    expect(page.locator("#reply-count")).to_have_text(f"{len(text)} characters · GSM-7 · "
                                                      "1 segment")
    page.keyboard.type(" 👍")
    expect(page.locator("#reply-count")).to_contain_text("UCS-2 because of “👍”")
    page.screenshot(path=str(screenshot_dir() / "workspace-saved-reply.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.locator("#messages li", has_text=text)).to_have_count(1, timeout=TIMEOUT)

    page.keyboard.press("Escape")  # out of the reply box
    page.keyboard.press("e")
    expect(page.locator("#chat-state")).to_have_text(
        "This chat has ended: you ended it.", timeout=TIMEOUT)

    page.keyboard.press("s")
    page.wait_for_url("**/agent/search", timeout=TIMEOUT)
    page.fill("#q", "Abel")
    page.press("#q", "Enter")
    expect(page.locator("#results li")).to_have_count(1, timeout=TIMEOUT)
    page.screenshot(path=str(screenshot_dir() / "workspace-search.png"), full_page=True)
    assert problems == []
