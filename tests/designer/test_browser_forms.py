"""The designer's forms, diagram and simulator in a real browser, at desktop and phone width.

Each test is something a new author meets in the first minutes: the choice rows of an "Ask to
choose" node, a diagram that opens fitted to its panel, an image the simulator shows.
Screenshots go to test-artifacts/screenshots/ for reviewers.
"""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.designer.conftest import BROWSER_ON_SQLITE, TOPICS, field, shot

pytestmark = BROWSER_ON_SQLITE

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _new_topic(page, name: str) -> None:
    page.click("text=New topic")
    page.fill("input[name=name]", name)
    page.click("button:has-text('Create')")
    expect(page.locator('#diagram svg [id="node-done"]')).to_be_visible()


def _add_choice_node(page) -> None:
    page.select_option("#add-kind", "input.static_choice")
    page.fill("#add-id", "ask_kind")
    page.click("#add-btn")
    expect(page.locator('#node-list [data-node="ask_kind"]')).to_have_class("node-item selected")


class TestChoiceRows:
    def _assert_usable(self, page) -> None:
        row = page.locator('.inspector .row[data-path="$.nodes[1].options[0]"]')
        row.scroll_into_view_if_needed()
        expect(row.locator(".field-problem").first).to_be_visible()
        for control in ("label", "value"):
            box = field(page, f"$.nodes[1].options[0].{control}").bounding_box()
            assert box["width"] >= 80, f"the {control} input is {box['width']:.0f} px wide"
        select = row.locator("select").bounding_box()
        assert select["width"] >= 80
        # The message reads as one line under the row, not stacked beside the inputs.
        problem = row.locator(".field-problem").first.bounding_box()
        label = field(page, "$.nodes[1].options[0].label").bounding_box()
        assert problem["y"] >= label["y"] + label["height"] - 1
        assert problem["height"] < 3 * label["height"]

    def test_a_choice_row_with_an_error_stays_usable(self, tab):
        page = tab
        page.set_viewport_size(DESKTOP)
        _new_topic(page, "Choices")
        _add_choice_node(page)
        # The missing question is flagged under its field, in the form's words.
        expect(page.locator('.inspector [data-path="$.nodes[1].prompt"] .field-problem')
               ).to_have_text("an \u201cAsk to choose\u201d node needs \u201cQuestion\u201d")
        self._assert_usable(page)
        shot(page, "choice-row-error-1280")
        page.set_viewport_size(PHONE)
        self._assert_usable(page)
        shot(page, "choice-row-error-phone")
        # The top bar's sign-out stays on a phone's screen.
        logout = page.locator(".topbar .logout button").bounding_box()
        assert logout["x"] + logout["width"] <= PHONE["width"]


def _long_topic(count: int) -> dict:
    """A topic drawn as a tall column of nodes: taller than the diagram panel at 100%."""
    nodes = [{"id": f"say_{i}", "type": "response.text", "text": f"Step {i}.",
              "next": f"say_{i + 1}"} for i in range(count)]
    nodes.append({"id": f"say_{count}", "type": "flow.end"})
    return {"id": "long_walk", "name": "Long walk", "version": 1, "start": "say_0",
            "discovery": {"keywords": ["walk"]}, "nodes": nodes}


class TestDiagram:
    def _assert_fitted(self, page, box_selector: str) -> None:
        svg = page.locator(f"{box_selector} svg")
        expect(svg).to_be_visible()
        panel = page.locator(box_selector).bounding_box()
        drawing = svg.bounding_box()
        assert drawing["height"] <= panel["height"] + 1, (drawing, panel)
        assert drawing["width"] <= panel["width"] + 1, (drawing, panel)
        assert drawing["y"] >= panel["y"] - 1
        # Fitted, not shrunk to a speck: one side fills most of the panel.
        assert (drawing["height"] >= 0.8 * (panel["height"] - 16)
                or drawing["width"] >= 0.8 * (panel["width"] - 16))

    def test_a_tall_diagram_opens_fitted_to_its_panel(self, tab, live_server, store):
        page = tab
        page.set_viewport_size(DESKTOP)
        with store.write():
            store.save_topic_version(_long_topic(14), author="ada")
        page.goto(f"{live_server}/topics/long_walk/edit")
        expect(page.locator('#diagram svg [id="node-say_14"]')).to_be_attached()
        self._assert_fitted(page, "#diagram")
        expect(page.locator('#diagram svg [id="node-say_14"]')).to_be_in_viewport()
        shot(page, "diagram-fitted-1280")

    def test_the_diff_diagram_opens_fitted(self, tab, live_server, store):
        page = tab
        page.set_viewport_size(DESKTOP)
        with store.write():
            store.save_topic_version(_long_topic(14), author="ada")
            store.save_topic_version(_long_topic(15), author="ada")
        page.goto(f"{live_server}/topics/long_walk/diff?a=1&b=2")
        self._assert_fitted(page, "#diff-diagram")


class TestSimulator:
    def test_topic_images_show_and_the_account_line_tells_the_truth(self, tab, live_server,
                                                                     store):
        page = tab
        page.set_viewport_size(DESKTOP)
        document = json.loads((TOPICS / "serial_number.json").read_text(encoding="utf-8"))
        with store.write():
            store.save_topic_version(document, author="ada")
        page.goto(f"{live_server}/topics/serial_number/edit")
        page.click("#sim-toggle")
        image = page.locator("#sim-messages .bubble.bot img").first
        expect(image).to_be_visible()
        page.wait_for_function(
            "() => { const i = document.querySelector('#sim-messages img');"
            " return i && i.complete && i.naturalWidth > 0; }")
        expect(page.locator("#sim-account")).to_have_text(
            "A guest: this phone is not linked to an account.")
        options = page.locator("#sim-user option").all_inner_texts()
        assert options == ["a guest", "Abel Tuter (sample user)", "Fred Luddy (sample user)",
                           "Beth Anglin (sample user)"]
        page.select_option("#sim-user", "abel.tuter")
        expect(page.locator("#sim-account")).to_have_text(
            "This phone is linked to Abel Tuter's account (sample records).")
        shot(page, "simulator-image-1280")
        assert [p for p in page.problems if "favicon" not in p] == []
