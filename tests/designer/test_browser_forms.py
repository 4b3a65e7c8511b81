"""The designer's forms, diagram and simulator in a real browser, at desktop and phone width.

Each test is something a new author meets in the first minutes: the choice rows of an "Ask to
choose" node, a diagram that opens fitted to its panel, an image the simulator shows.
Screenshots go to test-artifacts/screenshots/ for reviewers.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.designer.conftest import field, shot

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
