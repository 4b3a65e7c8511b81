"""The editor's Notifications tab and hand-off queue field in a real browser.

One scenario, as an author meets it in a bilingual topic: add a notification, give it a name
(a taken one is refused on the field), a start question and a text in English and Spanish;
see the check flag a variable the sender does not fill in, fix it, undo and redo the fix,
save, and find the notification in the stored document. Then a hand-off node's queue field
offers the queues that exist and explains a bad name. Screenshots go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, TOPICS, field, shot

pytestmark = BROWSER_ON_SQLITE

APPOINTMENT = json.loads((TOPICS / "install_appointment.json").read_text(encoding="utf-8"))
BILLING = {
    "id": "billing_help", "name": "Billing help", "version": 1, "start": "agent",
    "nodes": [{"id": "agent", "type": "flow.handoff", "queue": "billing"}],
}
NEW = "$.notifications[2]"
SPANISH = "Elija otra hora para su instalacion del {{ appointment }}."
NOT_FILLED = ("'appointment' is neither one of the notification's \u201cVariables the sender "
              "fills in\u201d nor user or phone")


def test_add_a_bilingual_notification_and_pick_a_queue(tab, live_server, store):
    page = tab
    with store.write():
        store.save_topic_version(APPOINTMENT, author=AUTHOR)
        store.save_topic_version(BILLING, author=AUTHOR)
        store.add_agent("bea", generate_password_hash("a long password 1"))
        store.set_agent_floor("bea", queues=["returns_desk"])
    page.goto(f"{live_server}/topics/install_appointment/edit")
    expect(page.locator("#badge-checks")).to_have_text("no problems")

    # -- the tab lists the two notifications the topic has; a third is added
    page.click("#notifications-tab")
    expect(page.locator("#notification-count")).to_have_text("2")
    expect(page.locator("#tab-notifications .notification")).to_have_count(2)
    page.click("#add-notification")
    expect(page.locator("#notification-count")).to_have_text("3")
    name = field(page, f"{NEW}.name")
    expect(name).to_have_value("notice")

    # -- a taken name is refused on the field; a free one renames it
    name.fill("confirm")
    name.press("Tab")
    problem = page.locator(f'[data-path="{NEW}.name"] .name-problem')
    expect(problem).to_have_text("There is already a notification confirm.")
    assert page.evaluate("Parley.editor.document().notifications[2].name") == "notice"
    name.fill("slot_check")
    name.press("Tab")
    expect(page.locator(f'[data-path="{NEW}.name"] .send-as')
           ).to_have_text("install_appointment.slot_check")

    # -- start question (only questions are offered), and a text per language
    start = field(page, f"{NEW}.start", "select")
    options = start.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options == ["", "confirm_slot", "pick_slot"]
    start.select_option("pick_slot")
    expect(page.locator(f'[data-path="{NEW}.text.en"] .lang-label')
           ).to_have_text("English (default)")
    field(page, f"{NEW}.text.en", "textarea").fill("Pick another time for {{ appointment }}.")
    field(page, f"{NEW}.text.es", "textarea").fill(SPANISH)

    # -- the check flags the variable the sender does not fill in, on the Spanish text
    spanish = page.locator(f'.inspector [data-path="{NEW}.text.es"]')
    expect(spanish.locator(".field-problem")).to_contain_text(NOT_FILLED)
    expect(spanish).to_have_class("field lang-text with-cost has-error")
    expect(spanish.locator(".sms-cost")).to_have_text(
        f"{len(SPANISH)} characters · GSM-7 · 1 segment")
    expect(page.locator("#notifications-tab")).to_have_class(re.compile(r"\btab-error\b"))
    shot(page, "notifications-1-problem")

    # -- ticking the variable fixes it; undo brings the problem back, redo the fix
    appointment = page.locator(f'[data-path="{NEW}.variables"] [data-name="appointment"] input')
    appointment.check()
    expect(spanish.locator(".field-problem")).to_have_count(0)
    expect(page.locator("#badge-checks")).to_have_text("no problems")
    expect(page.locator("#notifications-tab")).not_to_have_class(re.compile(r"\btab-error\b"))
    page.click("#undo-btn")
    expect(spanish.locator(".field-problem")).to_contain_text(NOT_FILLED)
    expect(appointment).not_to_be_checked()
    page.keyboard.press("Control+Shift+Z")
    expect(appointment).to_be_checked()
    expect(page.locator("#badge-checks")).to_have_text("no problems")
    shot(page, "notifications-2-fixed")

    # -- the JSON tab follows, and the saved document holds the notification as written
    page.click(".tabs [data-tab=json]")
    expect(page.locator("#json-text")).to_have_value(
        json.dumps(page.evaluate("Parley.editor.document()"), indent=2, ensure_ascii=False))
    page.click("#save-btn")
    expect(page.locator("#badge-version")).to_have_text("v2")
    expect(page.locator("#badge-unsaved")).to_be_hidden()
    saved = store.topic_document("install_appointment", 2)
    assert saved["notifications"][:2] == APPOINTMENT["notifications"]
    assert saved["notifications"][2] == {
        "name": "slot_check", "start": "pick_slot", "variables": ["appointment"],
        "text": {"en": "Pick another time for {{ appointment }}.", "es": SPANISH},
    }

    # -- a hand-off's queue field offers the queues that exist and explains a bad name
    page.select_option("#add-kind", "flow.handoff")
    page.fill("#add-id", "live_agent")
    page.click("#add-btn")
    queue = field(page, "$.nodes[6].queue")
    suggestions = page.locator(f"datalist#{queue.get_attribute('list')} option")
    assert suggestions.evaluate_all("(os) => os.map((o) => o.value)") == [
        "billing", "general", "returns_desk"]
    expect(queue).to_have_attribute("placeholder", "general")
    queue.fill("Billing")
    expect(page.locator('.inspector [data-path="$.nodes[6].queue"] .field-problem')).to_have_text(
        "'Billing' is not a queue name: write it 'billing' (queue names are lower-case).")
    queue.fill("billing")
    expect(page.locator('.inspector [data-path="$.nodes[6].queue"] .field-problem')
           ).to_have_count(0)
    assert page.evaluate("Parley.editor.document().nodes[6].queue") == "billing"
    shot(page, "notifications-3-queue")

    # -- at 1280 px every tab still shows beside the others
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("#notifications-tab")
    inspector = page.locator(".inspector").bounding_box()
    last = page.locator(".tabs [data-tab=tests]").bounding_box()
    assert last["x"] + last["width"] <= inspector["x"] + inspector["width"] + 1
    shot(page, "notifications-4-at-1280")
    assert page.problems == []
