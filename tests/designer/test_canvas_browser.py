"""The designer's canvas in a real browser: one undo history for the forms and the JSON tab.

An author edits a node's text in its form and another's in the JSON tab, undoes both with the
keyboard (the form, the JSON and the redrawn diagram follow), redoes them, and saves a topic
that validates. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from playwright.sync_api import expect

from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, ROOT, TOPICS, field, shot

SCHEMA = json.loads((ROOT / "schemas" / "topic.schema.json").read_text(encoding="utf-8"))
ORIGINAL = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))
PROMPT = ORIGINAL["nodes"][1]["prompt"]["en"]  # ask_details
CONFIRM = ORIGINAL["nodes"][3]["text"]["en"]  # confirm

pytestmark = BROWSER_ON_SQLITE


def open_seed_topic(page, live_server, store) -> None:
    with store.write():
        store.save_topic_version(ORIGINAL, author=AUTHOR)
    page.goto(f"{live_server}/topics/report_issue/edit")
    expect(page.locator("#badge-checks")).to_have_text("no problems")


def json_document(page) -> dict:
    return json.loads(page.locator("#json-text").input_value())


def test_undo_and_redo_cover_forms_and_json_across_redraws(tab, live_server, store):
    page = tab
    open_seed_topic(page, live_server, store)
    undo, redo = page.locator("#undo-btn"), page.locator("#redo-btn")
    expect(undo).to_have_attribute("aria-label", "Undo")
    expect(redo).to_have_attribute("aria-label", "Redo")
    expect(undo).to_be_disabled()
    ask_details = page.locator('#diagram svg [id="node-ask_details"]')
    confirm = page.locator('#diagram svg [id="node-confirm"]')

    # -- an edit in the node's form
    page.locator('#node-list [data-node="ask_details"]').click()
    field(page, "$.nodes[1].prompt").fill("What broke?")
    expect(ask_details).to_contain_text("What broke?")
    expect(page.locator("#badge-unsaved")).to_be_visible()

    # -- an edit in the JSON tab
    page.click(".tabs button[data-tab=json]")
    document = json_document(page)
    assert document["nodes"][1]["prompt"]["en"] == "What broke?"
    document["nodes"][3]["text"]["en"] = "Case {{ case.number }} is open."
    page.locator("#json-text").fill(json.dumps(document, indent=2))
    expect(confirm).to_contain_text("is open.")
    expect(undo).to_be_enabled()
    shot(page, "canvas-01-two-edits")

    # -- undo both with the keyboard: the JSON, the form and the redrawn diagram follow
    page.keyboard.press("Control+z")
    expect(confirm).not_to_contain_text("is open.")
    expect(confirm).to_contain_text("Thanks. I opened case")
    document = json_document(page)
    assert document["nodes"][3]["text"]["en"] == CONFIRM
    assert document["nodes"][1]["prompt"]["en"] == "What broke?"
    page.keyboard.press("Control+z")
    expect(ask_details).not_to_contain_text("What broke?")
    assert json_document(page) == ORIGINAL
    expect(page.locator("#badge-unsaved")).to_be_hidden()
    expect(undo).to_be_disabled()
    page.click(".tabs button[data-tab=node]")
    expect(page.locator('#node-list [data-node="ask_details"]')).to_have_class("node-item selected")
    expect(field(page, "$.nodes[1].prompt")).to_have_value(PROMPT)
    shot(page, "canvas-02-undone")

    # -- redo brings both back: nothing unsaved was lost
    page.keyboard.press("Control+Shift+z")
    expect(field(page, "$.nodes[1].prompt")).to_have_value("What broke?")
    expect(ask_details).to_contain_text("What broke?")
    page.keyboard.press("Control+y")
    expect(confirm).to_contain_text("is open.")
    expect(redo).to_be_disabled()
    expect(page.locator("#badge-unsaved")).to_be_visible()

    # -- the buttons do the same, then the redone draft saves and validates
    undo.click()
    expect(confirm).not_to_contain_text("is open.")
    redo.click()
    expect(confirm).to_contain_text("is open.")
    page.click("#save-btn")
    expect(page.locator("#badge-version")).to_have_text("v2")
    expect(page.locator("#badge-unsaved")).to_be_hidden()
    saved = store.topic_document("report_issue", 2)
    assert list(Draft202012Validator(SCHEMA).iter_errors(saved)) == []
    assert saved["nodes"][1]["prompt"]["en"] == "What broke?"
    assert saved["nodes"][3]["text"]["en"] == "Case {{ case.number }} is open."
    assert page.problems == []


def test_search_finds_nodes_by_id_or_text_and_jumps_to_them(tab, live_server, store):
    page = tab
    open_seed_topic(page, live_server, store)
    search = page.locator("#node-search")
    expect(search).to_have_attribute("aria-label", "Find a node by id or text")

    # By text, in any language: the Spanish prompt of ask_details.
    search.fill("pocas palabras")
    expect(page.locator("#search-results button")).to_have_text(["ask_details"])
    page.locator('#search-results button[data-node="ask_details"]').click()
    expect(page.locator('#diagram svg g.selected[id="node-ask_details"]')).to_be_visible()
    expect(page.locator('#node-list [data-node="ask_details"]')).to_have_class("node-item selected")
    expect(field(page, "$.nodes[1].prompt")).to_have_value(PROMPT)
    expect(page.locator("#search-results li")).to_have_count(0)

    # By id, with the keyboard: Enter jumps to the first match.
    search.fill("offer")
    search.press("Enter")
    expect(page.locator('#diagram svg g.selected[id="node-offer_agent"]')).to_be_visible()
    expect(page.locator('#node-list [data-node="offer_agent"]')).to_have_class("node-item selected")
    shot(page, "canvas-03-search")

    search.fill("no such words")
    expect(page.locator("#search-results")).to_contain_text("No node matches.")
    search.press("Escape")
    expect(search).to_have_value("")
    assert page.problems == []
