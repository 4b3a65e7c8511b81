"""The designer's send page: a template, recipients and variables; a dry run that renders
each recipient's message and says why anyone is refused; sending queues the messages; CSRF
on every form. The page tests run on both databases, the browser test in chromium on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import expect

from engine.subscriptions import set_consent
from tests.designer.conftest import BROWSER_ON_SQLITE, TOPICS, shot
from tests.webhook.conftest import publish

ABEL_PHONE = "+15550100001"
ASKED = ("Your install is on Dec 26th between 10am and 1pm. Reply YES to confirm or CHANGE "
         "to pick another time.\nReply STOP to opt out")


@pytest.fixture
def recipients(store):
    """The appointment topic published; abel.tuter linked and agreed, fred.luddy a guest."""
    from engine.sample import load_sample_data

    load_sample_data(store)
    publish(store, json.loads((TOPICS / "install_appointment.json").read_text("utf-8")))
    abel = store.user(user_name="abel.tuter")
    with store.write():
        store.link_phone(ABEL_PHONE, abel["id"])
        set_consent(store, abel["id"], "appointments", True, source="web form",
                    evidence="booking page")
    return abel


FORM = {"template": "install_appointment.confirm", "to": "abel.tuter, fred.luddy, nobody",
        "var_appointment": "Dec 26th between 10am and 1pm"}


class TestSendPage:
    def test_it_needs_a_sign_in(self, client):
        response = client.get("/notify/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]

    def test_the_form_is_refused_without_its_csrf_token(self, author, recipients, store):
        response = author.client.post("/notify/", data={**FORM, "action": "send"})
        assert response.status_code == 400 and "The form was refused" in response.text
        assert store.outbox_messages() == []

    def test_a_dry_run_renders_each_message_and_each_refusal(self, author, recipients, store):
        page = author.post("/notify/", data={**FORM, "action": "preview"}).text
        assert "Dry run: nothing was sent" in page
        assert 'data-user="abel.tuter" data-status="would_send"' in page
        assert ASKED.replace("\n", "\n") in page.replace("&#39;", "'")
        assert 'data-user="fred.luddy" data-status="refused"' in page
        assert "the user has no linked phone: guests cannot receive notifications" in page
        assert "there is no user with that name" in page
        assert store.outbox_messages() == []

    def test_the_forecast_counts_the_wait_for_a_recipients_window(self, app, author,
                                                                     recipients, store):
        app.config.update(SMS_NUMBER="+15550009999")  # the designer knows the number: an ETA
        # A zone where it is 02:00 now, whatever the hour: Abel's window opens at 08:00 there.
        offset = (2 - dt.datetime.now(dt.UTC).hour + 12) % 24 - 12
        with store.write():
            store.set_user_time_zone(recipients["id"], f"Etc/GMT{-offset:+d}")
        page = author.post("/notify/", data={**FORM, "action": "preview"}).text
        held = re.search(r'<span id="held">(.*?)</span>', page, re.S).group(1)
        assert held.startswith("1 recipient(s) are in their quiet hours")
        hours = float(re.search(r'<strong id="eta">([\d.]+) h</strong>', page).group(1))
        assert 4.9 < hours <= 6.0  # from 02:xx to 08:00 there

    def test_a_bilingual_template_shows_each_languages_text(self, author, recipients):
        page = author.get("/notify/?template=install_appointment.confirm").text
        assert '<p class="mono notify-source" data-lang="es"><span class="badge">es</span> ' \
            "Su instalacion es:" in page
        assert '{&#34;en&#34;' not in page and '{"en"' not in page  # never the raw JSON

    def test_send_queues_the_messages_and_starts_the_topic(self, author, recipients, store):
        page = author.post("/notify/", data={**FORM, "action": "send"},
                           follow_redirects=True).text
        assert "install_appointment.confirm: 1 sent, 2 refused" in page
        assert [m["body"] for m in store.outbox_messages(phone=ABEL_PHONE)] == [ASKED]
        assert store.open_conversation(ABEL_PHONE).state["node"] == "confirm_slot"

    def test_a_missing_variable_is_said_and_nothing_is_sent(self, author, recipients, store):
        page = author.post("/notify/", data={**FORM, "var_appointment": "", "action": "send"})
        assert page.status_code == 200
        assert "fill in appointment (the template&#39;s variables) for every recipient" in page.text
        assert store.outbox_messages() == []

    def test_a_per_recipient_table_fills_in_each_slot(self, author, recipients, store):
        author.post("/notify/", data={
            **FORM, "to": "", "var_appointment": "",
            "per_user": "user,appointment\nabel.tuter,Dec 27th between 1pm and 4pm",
            "action": "send"})
        [queued] = store.outbox_messages(phone=ABEL_PHONE)
        assert queued["body"].startswith("Your install is on Dec 27th between 1pm and 4pm.")

    def test_a_saved_segment_is_offered_and_used(self, author, recipients, store):
        author.post("/notify/segments", data={"name": "with cases", "kind": "open_cases"})
        assert store.segment("with cases") == {"open_cases": True}
        assert "<strong>with cases</strong>: users with open cases" in author.get("/notify/").text
        page = author.post("/notify/", data={**FORM, "to": "", "segment": "with cases",
                                             "action": "preview"}).text
        assert 'data-user="abel.tuter" data-status="would_send"' in page
        assert 'data-user="fred.luddy" data-status="refused"' in page

    def test_the_editor_checks_a_topics_notifications(self, author, recipients):
        document = json.loads((TOPICS / "install_appointment.json").read_text("utf-8"))
        document["notifications"][0]["start"] = "confirmed"
        checked = author.post("/topics/install_appointment/check", json={"document": document})
        assert "$.notifications[0].start" in checked.text


@BROWSER_ON_SQLITE
def test_preview_then_send_in_a_browser(app, tab, live_server, store, recipients):
    # The designer is told the sending numbers: the dry run shows the batch's ETA and spill.
    app.config.update(SMS_NUMBER="+15550009999",
                      SENDING_NUMBERS='{"+15550009999": {"type": "10dlc", "tier": "low"}}')
    page = tab
    page.click("#nav-notify")
    expect(page.locator("h1")).to_have_text("Send a notification")
    for key in ("install_appointment.reminder", "install_appointment.confirm"):
        page.select_option("#template", key)  # the page reloads with that template's form
        expect(page).to_have_url(re.compile(rf"template={re.escape(key)}$"))
    expect(page.locator("#var_appointment")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()
    page.fill("#to", "abel.tuter, fred.luddy")
    page.fill("#var_appointment", "Dec 26th between 10am and 1pm")
    page.click("#preview")
    expect(page.locator("#results-title")).to_have_text("Dry run: nothing was sent")
    abel = page.locator('#results tr[data-user="abel.tuter"]')
    expect(abel.locator(".preview-text")).to_have_text(ASKED)
    expect(abel).to_have_attribute("data-status", "would_send")
    fred = page.locator('#results tr[data-user="fred.luddy"]')
    expect(fred).to_contain_text("guests cannot receive notifications")
    expect(page.locator("#counts .badge")).to_have_text(["1 would send", "1 refused"])
    expect(page.locator("#forecast")).to_contain_text("From +15550009999 (10dlc")
    # Minutes, or hours when it is night where Abel is (the default zone) and he waits.
    expect(page.locator("#eta")).to_have_text(re.compile(r"^[\d.]+ (min|h)$"))
    expect(page.locator("#spill")).to_have_text("Nothing spills past today.")
    shot(page, "notify-dry-run")
    assert store.outbox_messages() == []
    page.click("#send")
    expect(page.locator("#results-title")).to_have_text("Sent")
    expect(page.locator('#results tr[data-user="abel.tuter"]')).to_have_attribute(
        "data-status", "sent")
    assert [m["body"] for m in store.outbox_messages(phone=ABEL_PHONE)] == [ASKED]
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "notify-phone")
    assert not page.problems


@BROWSER_ON_SQLITE
def test_the_editor_opens_a_topic_with_notifications(tab, live_server, store, recipients):
    page = tab
    page.goto(f"{live_server}/topics/install_appointment/edit")
    expect(page.locator("#problems-panel")).to_be_visible()
    expect(page.locator("#problem-list")).to_have_text("No problems. Try it, then publish.")
    assert not page.problems
