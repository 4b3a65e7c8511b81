"""A big topic in a real browser: the first opening shows the part around the start while the
whole is drawn, then the whole; the author focuses on a node, follows a "⋯" box out of the
part, and goes back to the whole topic. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from playwright.sync_api import expect

import designer.diagrams
from devtools.topicgen import generate_topic
from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, shot

TOPIC = generate_topic(320, seed=9)

pytestmark = BROWSER_ON_SQLITE


def test_a_big_topic_opens_in_part_then_whole_and_focuses(tab, live_server, store,
                                                          monkeypatch):
    monkeypatch.setattr(designer.diagrams, "BACKGROUND_FROM_NODES", 300)
    with store.write():
        store.save_topic_version(TOPIC, author=AUTHOR)
    page = tab
    page.goto(f"{live_server}/topics/{TOPIC['id']}/edit")
    bar = page.locator("#diagram-view")
    diagram = page.locator("#diagram svg")
    # First ever: the part around the start, said so, while the whole is drawn.
    expect(bar).to_contain_text(f"of 320 nodes, around \u201c{TOPIC['start']}\u201d",
                                timeout=30_000)
    expect(diagram.locator('[id="start-marker"]')).to_have_count(1)
    shot(page, "big-topic-01-part-first")
    # The page asks again until the whole is drawn, then shows it.
    expect(diagram.locator('g[id^="node-"]')).to_have_count(320, timeout=120_000)
    expect(bar).not_to_contain_text("Showing")

    # Focus on a node picked on the diagram.
    middle = TOPIC["nodes"][160]["id"]
    page.locator(f'#diagram [id="node-{middle}"]').click()
    page.click("#focus-selected")
    expect(bar).to_contain_text(f"around \u201c{middle}\u201d")
    expect(diagram.locator(f'[id="node-{middle}"]')).to_have_count(1)
    shown = diagram.locator('g[id^="node-"]').count()
    assert 1 < shown < 320
    shot(page, "big-topic-02-focused")

    # A "⋯" box at the edge of the part moves the focus there.
    outside = diagram.locator("g.outside").first
    target = outside.get_attribute("id").removeprefix("outside-")
    outside.click()
    expect(bar).to_contain_text(f"around \u201c{target}\u201d")
    expect(diagram.locator(f'[id="node-{target}"]')).to_have_count(1)

    page.click("#diagram-view button:has-text('Show the whole topic')")
    expect(diagram.locator('g[id^="node-"]')).to_have_count(320, timeout=60_000)
    expect(bar).not_to_contain_text("Showing")
