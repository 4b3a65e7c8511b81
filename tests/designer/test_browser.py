"""The designer in a real browser (Playwright on Debian chromium): a newcomer's whole path.

Log in, build a three-node topic by clicking, watch the diagram follow, fix the error the page
points at, chat with the draft, save the chat as a test, publish, export. Screenshots go to
test-artifacts/screenshots/ for reviewers.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from playwright.sync_api import expect

from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, ROOT, TOPICS, field, shot

SCHEMA = json.loads((ROOT / "schemas" / "topic.schema.json").read_text(encoding="utf-8"))


def test_build_try_publish_and_export_a_topic(tab, live_server, store):
    page = tab
    shot(page, "01-topic-list")

    # -- a new topic
    page.click("text=New topic")
    # Typed only once the page's script listens: on a busy machine the click's page may still
    # be loading, and the id would not be suggested.
    page.wait_for_url("**/topics/new", wait_until="load")
    page.fill("input[name=name]", "Report a problem")
    expect(page.locator("#new-id")).to_have_value("report_a_problem")  # suggested as you type
    page.click("button:has-text('Create')")
    expect(page.locator("#topic-title")).to_have_text("Report a problem")
    expect(page.locator('#diagram svg [id="node-done"]')).to_be_visible()

    # -- node 2: a choice, added by clicking
    page.select_option("#add-kind", "input.static_choice")
    page.fill("#add-id", "ask_kind")
    page.click("#add-btn")
    expect(page.locator('#node-list [data-node="ask_kind"]')).to_have_class("node-item selected")
    field(page, "$.nodes[1].prompt").fill("What is it about?")
    field(page, "$.nodes[1].var").fill("category")
    field(page, "$.nodes[1].options[0].label").fill("Product issue")
    expect(field(page, "$.nodes[1].options[0].value")).to_have_value("product_issue")
    page.click(".inspector button:has-text('Add a choice')")
    field(page, "$.nodes[1].options[1].label").fill("Billing")
    page.click(".inspector button:has-text('Start here')")
    expect(page.locator('#diagram svg [id="node-ask_kind"]')).to_be_visible()

    # -- node 3: a text reply, connected from the selected choice node
    page.select_option("#add-kind", "response.text")
    page.fill("#add-id", "thanks")
    page.click("#add-btn")
    expect(page.locator('#diagram svg [id="node-thanks"]')).to_be_visible()
    # The page points at what is missing: the field, the node list and the diagram.
    text_field = page.locator('.inspector [data-path="$.nodes[2].text"]')
    expect(text_field).to_have_class("field has-error")
    expect(text_field.locator(".field-problem")).to_contain_text("needs \u201cMessage\u201d")
    expect(page.locator('#node-list [data-node="thanks"] .badge.error')).to_be_visible()
    expect(page.locator('#diagram svg [id="node-thanks"]')).to_have_class(
        "node parley-node cat-response type-response-text problem-error selected")
    expect(page.locator("#badge-checks")).to_contain_text("error")
    shot(page, "02-editor-error-pointed-at")

    # -- fix it from the problem list: the click lands in the field
    page.click("#problem-list li:has-text(\"needs \u201cMessage\u201d\")")
    expect(field(page, "$.nodes[2].text")).to_be_focused()
    page.keyboard.type("Thanks! We will look into your {{ category }} issue.")
    field(page, "$.nodes[2].next").select_option("done")
    expect(text_field).not_to_have_class("field has-error")
    expect(page.locator("#badge-checks")).not_to_contain_text("error")
    shot(page, "03-editor-fixed")

    # -- the JSON view follows the forms, and the forms follow the JSON
    page.click(".tabs button[data-tab=json]")
    json_text = json.loads(page.locator("#json-text").input_value())
    assert [n["id"] for n in json_text["nodes"]] == ["done", "ask_kind", "thanks"]
    json_text["description"] = "Users report a problem."
    page.locator("#json-text").fill(json.dumps(json_text, indent=2))
    expect(page.locator("#json-state")).to_contain_text("The JSON parses")
    page.click(".tabs button[data-tab=topic]")
    expect(field(page, "$.description")).to_have_value("Users report a problem.")
    shot(page, "04-topic-settings")

    # -- clicking a node on the diagram opens it
    page.locator('#diagram svg [id="node-ask_kind"]').click()
    expect(field(page, "$.nodes[1].prompt")).to_have_value("What is it about?")

    # -- try it in the simulator
    page.click("#sim-toggle")
    first = page.locator("#sim-messages .bubble.bot").first
    prompt = "What is it about?\n1. Product issue\n2. Billing\nReply with a number."
    expect(first.locator(".body")).to_have_text(prompt)
    expect(first.locator(".sms-info")).to_have_text(f"{len(prompt)} chars · GSM-7 · 1 segment")
    expect(page.locator('#diagram svg g.current[id="node-ask_kind"]')).to_be_visible()
    page.fill("#sim-input", "2")
    page.press("#sim-input", "Enter")
    thanks = page.locator("#sim-messages .bubble.bot").nth(1)
    expect(thanks.locator(".body")).to_have_text("Thanks! We will look into your billing issue.")
    expect(thanks.locator(".sms-info")).to_have_text("45 chars · GSM-7 · 1 segment")
    page.fill("#sim-input", "no")
    page.press("#sim-input", "Enter")
    expect(page.locator("#sim-messages .bubble.bot").last).to_contain_text(
        "Thanks for texting us. Have a great day!")
    page.fill("#sim-test-name", "Billing problem")
    page.click("#sim-save")
    expect(page.locator("#sim-note")).to_contain_text("Saved the transcript test")
    shot(page, "05-simulator")
    assert [t["name"] for t in store.transcripts("report_a_problem")] == ["Billing problem"]
    assert store.query_records("cases", limit=5) == []  # the simulator kept to its own file
    page.click("#sim-close")

    # -- publish
    page.fill("#save-note", "first working version")
    page.click("#publish-btn")
    expect(page.locator("#status")).to_contain_text("is published")
    expect(page.locator("#badge-published")).to_have_text("published v2")
    assert store.topic_summary("report_a_problem")["published_version"] == 2
    assert store.topic_versions("report_a_problem")[0]["note"] == "first working version"

    # -- export: the file validates against the topic schema
    page.click(".more-menu summary")
    with page.expect_download() as info:
        page.click("#export-link")
    download = info.value
    assert download.suggested_filename == "report_a_problem.json"
    exported = json.loads(open(download.path(), encoding="utf-8").read())
    assert list(Draft202012Validator(SCHEMA).iter_errors(exported)) == []
    assert exported == store.topic_document("report_a_problem", 2)
    assert [n["id"] for n in exported["nodes"]] == ["done", "ask_kind", "thanks"]

    # -- history and diff
    page.goto(f"{live_server}/topics/report_a_problem/versions")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    shot(page, "06-versions")
    page.click("button:has-text('Compare the selected versions')")
    expect(page.locator("h1")).to_have_text("Version 1 → version 2")
    expect(page.locator('#diff-diagram svg [id="node-ask_kind"]')).to_have_class(
        "node parley-node cat-input type-input-static_choice diff-added")
    shot(page, "07-diff")

    assert [p for p in page.problems if "favicon" not in p] == []


@BROWSER_ON_SQLITE
def test_a_bad_import_shows_every_error(tab, live_server):
    page = tab
    bad = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))
    bad["nodes"][0]["next"] = "nowhere"
    bad["nodes"][1]["type"] = "input.telepathy"
    page.goto(f"{live_server}/topics/import")
    page.set_input_files("input[type=file]", files=[{
        "name": "broken.json", "mimeType": "application/json",
        "buffer": json.dumps(bad).encode()}])
    page.click("button:has-text('Import')")
    expect(page.locator("#import-problems")).to_contain_text("broken.json was not imported")
    expect(page.locator("#import-problems li.problem.error")).to_have_count(
        page.locator("#import-problems li.problem.error").count())
    assert page.locator("#import-problems li.problem.error").count() >= 2
    expect(page.locator("#import-problems")).to_contain_text("$.nodes[0].next")
    expect(page.locator("#import-problems")).to_contain_text("$.nodes[1].type")
    shot(page, "08-import-errors")
    page.goto(live_server + "/")
    expect(page.locator("#topic-list")).not_to_contain_text("I have an issue")


@BROWSER_ON_SQLITE
def test_the_seed_topic_renders_and_chats(tab, live_server, store):
    """The example "I have an issue" topic, as a support lead would open it."""
    document = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))
    with store.write():
        store.save_topic_version(document, author=AUTHOR)
    page = tab
    page.goto(f"{live_server}/topics/report_issue/edit")
    for node in document["nodes"]:
        expect(page.locator(f'#diagram svg [id="node-{node["id"]}"]')).to_be_visible()
    expect(page.locator("#badge-checks")).to_have_text("no problems")
    page.click("#sim-toggle")
    expect(page.locator("#sim-messages .bubble.bot").first).to_contain_text("4. Other")
    page.fill("#sim-input", "Product issue")
    page.press("#sim-input", "Enter")
    expect(page.locator('#diagram svg g.current[id="node-ask_details"]')).to_be_visible()
    page.fill("#sim-input", "The screen stays black ✋")
    page.press("#sim-input", "Enter")
    expect(page.locator("#sim-messages .bubble.bot").nth(2)).to_contain_text("I opened case SIM")
    shot(page, "09-seed-topic-simulator")
    page.select_option("#sim-user", "abel.tuter")  # restarts as a linked user
    expect(page.locator("#sim-messages .bubble.bot")).to_have_count(1)
    page.click(".tabs button[data-tab=node]")
    page.locator('#node-list [data-node="open_case"]').click()
    expect(page.locator('.inspector [data-path="$.nodes[2].fields"]')).to_contain_text("Column")
    shot(page, "10-seed-topic-create-record-form")


@BROWSER_ON_SQLITE
def test_every_node_kind_has_a_form_and_nodes_can_be_removed(tab, live_server):
    page = tab
    page.click("text=New topic")
    page.fill("input[name=name]", "All kinds")
    page.click("button:has-text('Create')")
    expect(page.locator('#diagram svg [id="node-done"]')).to_be_visible()
    kinds = page.locator("#add-kind option").evaluate_all("options => options.map(o => o.value)")
    assert kinds == SCHEMA["$defs"]["node"]["properties"]["type"]["enum"]  # in the schema's order
    page.uncheck("#add-connect")
    for index, kind in enumerate(kinds, start=1):
        page.select_option("#add-kind", kind)
        node_id = f"n{index}"
        page.fill("#add-id", node_id)
        page.click("#add-btn")
        form = page.locator(f'.inspector .node-form[data-path="$.nodes[{index}]"]')
        expect(form).to_be_visible()
        expect(form.locator(".node-head select")).to_have_value(kind)
        # Each kind's required fields are on its form, flagged until filled in.
        expect(page.locator(f'#diagram svg [id="node-{node_id}"]')).to_be_visible()
    expect(page.locator("#node-list .node-item")).to_have_count(16)
    # Kind-specific widgets: choices, card fields, conditions, a data source, mappings.
    for index, selector in [(2, '[data-path="$.nodes[2].options"] .add-row'),
                            (9, '[data-path="$.nodes[9].fields"] .add-row'),
                            (10, '[data-path="$.nodes[10].conditions"] .add-row'),
                            (11, '[data-path="$.nodes[11].values"] .add-row'),
                            (13, '[data-path="$.nodes[13].fields"] .add-row')]:
        page.locator(f'#node-list [data-node="n{index}"]').click()
        expect(page.locator(f".inspector {selector}")).to_be_visible()
    page.locator('#node-list [data-node="n12"]').click()
    expect(page.locator('.inspector [data-path="$.nodes[12].source"] select')).to_be_visible()
    shot(page, "11-every-kind")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".inspector button:has-text('Delete node')")
    expect(page.locator("#node-list .node-item")).to_have_count(15)
    expect(page.locator('#diagram svg [id="node-n12"]')).to_have_count(0)
    assert [p for p in page.problems if "favicon" not in p] == []
