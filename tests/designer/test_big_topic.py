"""Big topics in the editor: checks apart from the diagram, drawings kept (in memory and in
files under the instance folder), the part around the start while the whole is drawn, and
the focus on one node. How fast is measured by `parley bench` (designer rows), not here."""

from __future__ import annotations

import copy
import time
from html import unescape
from pathlib import Path

import pytest

import designer.diagrams
from designer.diagrams import cache
from devtools.topicgen import generate_topic

TOPIC = generate_topic(120, seed=7)


def post(author, what: str, **payload) -> dict:
    response = author.post(f"/topics/{TOPIC['id']}/{what}", json=payload)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def saved(author, store):
    with store.write():
        store.save_topic_version(TOPIC, author="ada")
    return TOPIC


class TestChecksApart:
    def test_the_checks_can_come_without_the_diagram(self, author, saved):
        doc = copy.deepcopy(saved)
        doc["nodes"][3]["next"] = "nowhere"
        result = post(author, "check?diagram=0", document=doc)
        assert result["svg"] is None
        assert any(p["path"] == "$.nodes[3].next" for p in result["problems"])
        drawn = post(author, "diagram", document=doc)
        assert drawn["view"] == "whole" and not drawn["pending"]
        svg = unescape(drawn["svg"])
        assert svg.count('<g id="node-') == len(doc["nodes"])
        node = svg[svg.index(f'id="node-{doc["nodes"][3]["id"]}"'):][:200]
        assert "problem-error" in node

    def test_the_same_document_is_drawn_once(self, author, saved, monkeypatch):
        first = post(author, "diagram", document=saved)["svg"]
        monkeypatch.setattr("engine.diagram.draw_svg", pytest.fail)  # must not draw again
        assert post(author, "diagram", document=saved)["svg"] == first


class TestBigTopics:
    def test_a_first_opening_shows_the_part_around_the_start_then_the_whole(
            self, author, saved, monkeypatch, app):
        monkeypatch.setattr(designer.diagrams, "BACKGROUND_FROM_NODES", 100)
        monkeypatch.setattr(designer.diagrams, "FILE_FROM_NODES", 100)
        answer = post(author, "diagram", document=saved)
        assert answer["pending"] and answer["view"] == "focus"
        assert answer["focus"] == saved["start"] and answer["shown"] < answer["nodes"] == 120
        assert 'id="start-marker"' in unescape(answer["svg"])
        deadline = time.monotonic() + 120
        while answer["pending"]:
            assert time.monotonic() < deadline, "the whole diagram was never drawn"
            time.sleep(0.2)
            answer = post(author, "diagram", document=saved)
        assert answer["view"] == "whole"
        assert unescape(answer["svg"]).count('<g id="node-') == 120

        # A restarted designer opens it from the files under the instance folder.
        assert list(Path(app.config["DIAGRAM_CACHE_DIR"]).rglob("*.svg.gz"))
        with app.app_context():
            cache().forget_memory()
        again = post(author, "diagram", document=saved)
        assert again["view"] == "whole" and not again["pending"]
        assert again["svg"] == answer["svg"]

    def test_saving_draws_a_big_topic_in_the_background(self, author, saved, monkeypatch, app):
        monkeypatch.setattr(designer.diagrams, "FILE_FROM_NODES", 100)
        doc = copy.deepcopy(saved)
        doc["nodes"][5]["text"] = "Edited before saving."
        assert author.post(f"/topics/{doc['id']}/save", json={"document": doc}).status_code == 200
        folder = Path(app.config["DIAGRAM_CACHE_DIR"]) / "svg"
        deadline = time.monotonic() + 120
        while not list(folder.glob("*.svg.gz")):
            assert time.monotonic() < deadline, "nothing was drawn after the save"
            time.sleep(0.2)

    def test_focus_on_a_node_shows_its_neighbourhood(self, author, saved):
        middle = saved["nodes"][60]["id"]
        answer = post(author, "diagram", document=saved, focus=middle)
        assert answer["view"] == "focus" and answer["focus"] == middle
        svg = unescape(answer["svg"])
        assert f'id="node-{middle}"' in svg
        assert 0 < svg.count('<g id="node-') == answer["shown"] < 120
        assert 'class="node outside"' in svg  # where the part leads out
