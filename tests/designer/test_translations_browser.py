"""In a browser: the translation view of a topic in English and Spanish, and the simulator's
language picker."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.designer.conftest import AUTHOR, BROWSER_ON_SQLITE, TOPICS, shot


def _save_appointment(store) -> None:
    document = json.loads((TOPICS / "install_appointment.json").read_text(encoding="utf-8"))
    with store.write():
        store.save_topic_version(document, author=AUTHOR)


@BROWSER_ON_SQLITE
def test_the_translation_view_shows_both_languages_and_saves_an_edit(tab, live_server, store):
    _save_appointment(store)
    page = tab
    page.goto(f"{live_server}/topics/install_appointment/edit")
    page.click(".more-menu summary")
    page.click("#translations-link")
    expect(page.locator("h1")).to_contain_text("Translations")
    row = page.locator('#translations tr[data-key="nodes.2.prompt"]')
    expect(row.locator('td[data-language="en"] textarea')).to_have_value(
        "Which time works better for you?")
    expect(row.locator('td[data-language="es"] textarea')).to_have_value(
        "¿Qué horario le viene mejor?")
    expect(row.locator('td[data-language="es"] .sms-cost')).to_have_text("GSM-7 · 1 segment")
    # An accent that is not in GSM-7 shows what it costs, before anything is published.
    spanish = row.locator('td[data-language="es"] textarea')
    spanish.fill("¿Qué horario le viene mejor? Elija una opción.")
    page.click("#save-translations")
    expect(page.locator(".flash-success")).to_contain_text("draft version 2")
    expect(row.locator('td[data-language="es"] .sms-cost')).to_have_text("UCS-2 · 1 segment")
    expect(page.locator("#costs tfoot")).to_contain_text("UCS-2")
    expect(page.locator("#export-es")).to_have_attribute(
        "href", "/topics/install_appointment/translations/es.po?version=2")
    shot(page, "translations-side-by-side")
    assert page.problems == []


@BROWSER_ON_SQLITE
def test_the_simulator_speaks_the_language_picked(tab, live_server, store):
    _save_appointment(store)
    page = tab
    page.goto(f"{live_server}/topics/install_appointment/edit")
    page.click("#sim-toggle")
    first = page.locator("#sim-messages .bubble.bot").first
    expect(first).to_contain_text("Your install appointment is scheduled")
    expect(page.locator("#sim-language-label")).to_be_visible()
    page.select_option("#sim-language", "es")  # restarts the chat in Spanish
    expect(first).to_contain_text("Su cita de instalacion es: Dec 25th")
    page.fill("#sim-input", "cambiar")
    page.press("#sim-input", "Enter")
    expect(page.locator("#sim-messages .bubble.bot").nth(1)).to_contain_text("1. 26 de dic.")
    shot(page, "simulator-in-spanish")
    page.fill("#sim-test-name", "Cambia la cita")
    page.click("#sim-save")
    expect(page.locator("#sim-note")).to_contain_text("Saved the transcript test")
    [saved] = store.transcripts("install_appointment")
    assert store.transcript(saved["id"])["document"]["language"] == "es"
    assert page.problems == []
