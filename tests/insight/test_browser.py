"""Insight in a real browser (Playwright on Debian chromium), on the scripted week of
tests/insight/conftest.py: the overview, a topic's counts on its diagram and two versions side
by side, unanswered texts, a conversation found and its path, and "Make it a test" followed by
`parley test` passing on the saved transcript. Screenshots go to test-artifacts/screenshots/.

They run on SQLite; the overview also on PostgreSQL (as tests/designer/test_browser.py does).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, PASSWORD, live_server  # noqa: F401
from tests.insight.conftest import DAY_1, DAY_2, ORDER_V2, SECRETS
from tests.insight.test_api import app  # noqa: F401 (fixture)
from tests.support.browser import REPO_ROOT, screenshot_dir

ON_PATH = re.compile(r"\bon-path\b")


def shot(page, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"insight-{name}.png"), full_page=True)


@pytest.fixture
def tab(browser, live_server):  # noqa: F811
    """A signed-in page on the live designer, with browser errors collected."""
    context = browser.new_context(viewport={"width": 1480, "height": 920}, accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda message: page.problems.append(message.text)
            if message.type == "error" else None)
    page.goto(live_server + "/login")
    page.fill("input[name=user_name]", AUTHOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Topics")
    yield page
    assert not page.problems
    context.close()


def pick_period(page) -> None:
    page.fill("#period-form input[name=from]", DAY_1)
    page.fill("#period-form input[name=to]", DAY_2)
    page.click("#period-form button[type=submit]")


def test_overview(tab):
    page = tab
    page.click("#nav-insight")
    expect(page.locator("h1")).to_have_text("How the bot performs")
    pick_period(page)
    expect(page.locator("#figure-conversations .now")).to_have_text("10")
    expect(page.locator("#figure-containment .now")).to_have_text("50%")
    expect(page.locator("#figure-conversations .was")).to_have_text("previous period: 0")
    expect(page.locator("#figure-conversations svg.chart rect.bar")).to_have_count(2)
    expect(page.locator('#handoffs tr[data-reason="error"] td.num').first).to_have_text("1")
    with page.expect_download() as info:
        page.click("#downloads a:has-text('Figures per day')")
    assert open(info.value.path(), encoding="utf-8").read().startswith("period,day,")
    shot(page, "01-overview")


@BROWSER_ON_SQLITE
def test_diagram_overlay_and_two_versions(tab):
    page = tab
    page.click("#nav-insight")
    pick_period(page)
    page.click("#topic-starts a:has-text('On the diagram')")
    expect(page.locator("h1")).to_contain_text("Order help")
    # The published version first: version 2, which one conversation went through.
    expect(page.locator("#version-2 h2")).to_have_text("Version 2 · started 1 times")
    expect(page.locator('#diagram-1 svg [id="node-thanks"]')).to_contain_text("1 reached")

    page.select_option("#version-form select[name=version]", "1")
    page.click("#version-form button[type=submit]")
    kind = page.locator('#diagram-1 svg [id="node-kind"]')
    expect(kind).to_be_visible()
    expect(kind).to_have_class("node parley-node cat-input type-input-static_choice heat-3")
    expect(kind).to_contain_text("7 reached · 4 dropped off")
    expect(page.locator("#diagram-1 svg g.edge.took-2")).to_contain_text("Track (2)")
    expect(page.locator('#version-1 tr[data-node="pin"] td.num').nth(3)).to_have_text("1")
    shot(page, "02-diagram-overlay")

    page.select_option("#version-form select[name=compare]", "2")
    page.click("#version-form button[type=submit]")
    expect(page.locator(".insight-diagram svg")).to_have_count(2)
    expect(page.locator("#version-1 h2")).to_have_text("Version 1 · started 7 times")
    expect(page.locator('#diagram-2 svg [id="node-thanks"]')).to_contain_text("1 reached")
    shot(page, "03-two-versions")


@BROWSER_ON_SQLITE
def test_unanswered_list(tab):
    page = tab
    page.click("#nav-insight")
    pick_period(page)
    page.click(".insight-tabs a:has-text('Unanswered')")
    expect(page.locator("#unanswered tbody tr")).to_have_count(5)
    expect(page.locator("#unanswered")).to_contain_text("blah #")
    shot(page, "04-unanswered")


@BROWSER_ON_SQLITE
def test_search_a_conversation_see_its_path_and_make_it_a_passing_test(tab, tmp_path):
    page = tab
    page.click("#nav-insight")
    page.click(".insight-tabs a:has-text('Conversations')")
    page.select_option("#search-form select[name=outcome]", "completed")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#conversations tbody tr")).to_have_count(2)
    page.fill("#search-form input[name=user]", "abel.tuter")
    page.click("#search-form button[type=submit]")
    rows = page.locator("#conversations tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("+15550100008")
    rows.locator("a").first.click()

    expect(page.locator("#messages")).to_contain_text("[redacted]")
    path = page.locator(".path-card svg")
    for node in ("kind", "pin", "thanks", "done"):
        expect(path.locator(f'[id="node-{node}"]')).to_have_class(ON_PATH)
    expect(path.locator('[id="node-people"]')).not_to_have_class(ON_PATH)
    expect(path.locator("g.edge.on-path")).to_have_count(3)
    shot(page, "05-conversation-path")

    page.fill("#make-test input[name=name]", "Tracked an order")
    page.click("#make-test button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Saved the transcript test")
    expect(page.locator("#kept-test")).to_contain_text("Tests tab")
    shot(page, "06-made-a-test")
    with page.expect_download() as info:
        page.click("#kept-download")
    transcript = tmp_path / "tracked.json"
    info.value.save_as(transcript)
    text = transcript.read_text(encoding="utf-8")
    assert all(secret not in text and secret not in page.content() for secret in SECRETS)
    assert "+15550100008" not in text
    topics = tmp_path / "topics"
    topics.mkdir()
    (topics / "order.json").write_text(json.dumps(ORDER_V2), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "parley", "test", str(transcript),
                          "--topics", str(topics)], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS" in run.stdout and "1 passed, 0 failed" in run.stdout

    # The topic's Tests tab lists it.
    page.click("#kept-test a:has-text('Tests tab')")
    # The editor's modules have run once its page has loaded: its tabs answer clicks from then.
    page.wait_for_url(re.compile(r"/topics/order/edit"), wait_until="load")
    page.click(".tabs button[data-tab=tests]")
    expect(page.locator("#transcript-list")).to_contain_text("Tracked an order")
