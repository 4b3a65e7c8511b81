"""The floor in chromium: two agents and a supervisor, each in their own browser context.
A billing chat reaches only the billing agent; the supervisor takes it over (the agent's page
says so without a reload), then moves it to the technical queue, where the other agent
accepts it. The runtime is served on 127.0.0.1 without its sender."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.handoff import DeskTexts
from tests.agents.conftest import BROWSER_ON_SQLITE, PASSWORD, serving
from tests.agents.test_floor import set_up_floor
from tests.support.browser import screenshot_dir

pytestmark = BROWSER_ON_SQLITE
TIMEOUT = 10_000  # ms: the pages poll every 1.5 to 2 s
USER = "+15550409999"


@pytest.fixture
def served(tmp_path, database_url):
    with serving(tmp_path, database_url) as served:
        set_up_floor(served[2])
        yield served


def signed_in(browser, base_url: str, user_name: str, problems: list[str]):
    page = browser.new_context().new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base_url}/agent/login")
    page.fill("input[name=user_name]", user_name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#presence")).to_contain_text("signed in", timeout=TIMEOUT)
    return page


def test_a_supervisor_takes_over_and_moves_a_chat_between_queues(served, browser):
    base_url, twilio, store = served
    problems: list[str] = []
    beth = signed_in(browser, base_url, "beth", problems)
    fred = signed_in(browser, base_url, "fred", problems)
    sara = signed_in(browser, base_url, "sara", problems)
    expect(beth.locator("#my-queues")).to_have_text(
        "Queues: billing · up to 3 chats at once", timeout=TIMEOUT)
    expect(beth.locator("a.nav", has_text="Supervisor")).to_have_count(0)

    # Routing: the billing chat reaches Beth's queue (with its queue's name), not Fred's.
    twilio.text(USER, "dispute")
    row = beth.locator("#waiting tr")
    expect(row).to_have_count(1, timeout=TIMEOUT)
    expect(row.locator(".queue-name")).to_have_text("billing")
    expect(fred.locator("#waiting-empty")).to_be_visible(timeout=TIMEOUT)
    beth.screenshot(path=str(screenshot_dir() / "floor-agent-queue.png"), full_page=True)
    row.locator("button.accept").click()
    beth_state = beth.locator("#chat-state")
    expect(beth_state).to_have_text("You are handling this chat.", timeout=TIMEOUT)

    # The supervisor sees Beth's chat on the floor and takes it over.
    sara.click("a.nav")
    beths_row = sara.locator("tr[data-agent=beth]")
    expect(beths_row.locator(".load")).to_have_text("1 / 3")
    expect(beths_row.locator(".agent-status")).to_have_text("online")
    sara.screenshot(path=str(screenshot_dir() / "floor-supervisor.png"), full_page=True)
    beths_row.locator(".agent-chat button.take").click()
    expect(sara.locator(".flashes")).to_have_text("You have taken the chat over.")
    expect(sara.locator("#chat-state")).to_have_text("You are handling this chat.",
                                                     timeout=TIMEOUT)
    expect(beth_state).to_have_text("Sara Lead is handling this chat.", timeout=TIMEOUT)
    sara.fill("#reply-body", "Hello, I'm the team lead.")
    sara.press("#reply-body", "Enter")
    expect(beth.locator("#messages li", has_text="Hello, I'm the team lead.")) \
        .to_have_count(1, timeout=TIMEOUT)

    # Then moves it to the technical queue: it waits there for Fred, who accepts it.
    sara.click("a.nav")
    saras_row = sara.locator("tr[data-agent=sara]")
    saras_row.locator(".agent-chat input[name=queue]").fill("technical")
    saras_row.locator(".agent-chat button.to-queue").click()
    expect(sara.locator(".flashes")).to_have_text("The chat is moved.")
    expect(sara.locator('tr.queue-row[data-queue="technical"] .phone')).to_have_text(USER)
    fred.goto(f"{base_url}/agent/")
    waiting = fred.locator("#waiting tr")
    expect(waiting.locator(".queue-name")).to_have_text("technical", timeout=TIMEOUT)
    waiting.locator("button.accept").click()
    expect(fred.locator("#chat-state")).to_have_text("You are handling this chat.",
                                                     timeout=TIMEOUT)
    # Beth serves billing only: her page says the chat is no longer hers to see.
    expect(beth.locator("#chat-error")).to_have_text(
        "This chat is in the technical queue, which you do not serve.", timeout=TIMEOUT)
    sent = [m["body"] for m in store.outbox_messages(phone=USER)]
    assert sent == ["Beth Anglin has joined the chat.", "Sara Lead has joined the chat.",
                    "Hello, I'm the team lead.", DeskTexts().moved,
                    "Fred Agent has joined the chat."]
    # Beth's page keeps asking for the chat; each refusal is a 403 in the console, no more.
    assert [p for p in problems if "status of 403 (FORBIDDEN)" not in p] == []
