"""The diagram's arrows say which transition they are, as the editor's canvas reads them."""

from __future__ import annotations

import json
import re

from engine.diagram import render_svg
from tests.designer.conftest import TOPICS

REPORT_ISSUE = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))


def edge_ids(document: dict) -> list[str]:
    svg = render_svg(document).replace("&#45;", "-")
    return re.findall(r'<g id="(edge-[^"]+)" class="edge', svg)


def test_each_arrow_names_its_source_and_the_keys_it_stands_for():
    assert edge_ids(REPORT_ISSUE) == [
        "edge-ask_category-next", "edge-ask_category-on_max_attempts", "edge-ask_details-next",
        "edge-ask_details-on_max_attempts", "edge-open_case-next", "edge-confirm-next"]


def test_choices_sharing_an_arrow_list_every_key():
    document = json.loads(json.dumps(REPORT_ISSUE))
    options = document["nodes"][0]["options"]
    options[0]["next"] = options[1]["next"] = "confirm"
    ids = edge_ids(document)
    assert "edge-ask_category-options.0.next,options.1.next" in ids
    assert "edge-ask_category-next" in ids  # the other two choices fall back to `next`
