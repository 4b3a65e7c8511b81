"""The designer's canvas in a real browser: a topic built and edited on the diagram alone.

The real mouse connects nodes by dragging (from a node, or from one of its exit tabs), creates
a node by dragging onto empty space, inserts one by dropping the "new node" chip onto an arrow,
selects, deletes, renames by double-click, copies and pastes between two topics, zooms and pans;
the keyboard alone adds, connects, renames and deletes. Every edit is undone and redone across
the server's redraw. After each scenario the topic is saved and validates, and report_issue's
transcripts still pass. One designer is served for the whole module; screenshots go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from designer import create_app
from engine.store import open_store
from engine.transcripts import run_transcripts
from engine.validation import problems, transitions
from parley.cli import SAMPLE_RECORDS, TOPICS_DIR, read_topic, topic_files
from tests.designer.conftest import AUTHOR, PASSWORD, TOPICS, field, shot, sign_in

REPORT_ISSUE = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))


def small_topic(topic_id: str) -> dict:
    """A greeting and an end: the smallest topic that validates."""
    return {
        "id": topic_id, "name": topic_id.replace("_", " ").capitalize(), "version": 1,
        "description": "Built on the canvas.", "start": "hello",
        "nodes": [
            {"id": "hello", "type": "response.text", "text": "Hello!", "next": "bye"},
            {"id": "bye", "type": "flow.end"},
        ],
    }


# ---------------------------------------------------------------- one designer per module

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, store) of one designer on a SQLite database, for every test here."""
    folder = tmp_path_factory.mktemp("canvas")
    url = str(folder / "parley.sqlite")
    open_store(url).close()
    app = create_app({
        "SECRET_KEY": "test-session-key-0123456789abcdef0123",
        "DESIGNER_PUBLIC_URL": "http://127.0.0.1",
        "DATABASE": url,
        "SIMULATOR_DIR": str(folder / "simulator"),
    })
    store = open_store(url)
    with store.write():
        store.add_author(AUTHOR, generate_password_hash(PASSWORD), display_name="Ada Lovelace")
        for name in ("assistant_greeting", "assistant_fallback", "assistant_closing"):
            document = json.loads((TOPICS / f"{name}.json").read_text(encoding="utf-8"))
            version = store.save_topic_version(document, author=AUTHOR)
            store.publish_topic_version(document["id"], version, by=AUTHOR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", store
    finally:
        server.shutdown()
        thread.join(timeout=5)
        store.close()


@pytest.fixture(scope="module")
def signed_in(browser, served):
    base, _store = served
    context = browser.new_context(viewport={"width": 1480, "height": 920})
    page = context.new_page()
    page.goto(f"{base}/login")
    sign_in(page)
    yield context
    context.close()


@pytest.fixture
def page(signed_in):
    page = signed_in.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda message: page.problems.append(message.text)
            if message.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())  # leaving with unsaved changes
    yield page
    page.close()


# ---------------------------------------------------------------- helpers

def open_topic(page, base: str, store, document: dict) -> None:
    with store.write():
        store.save_topic_version(document, author=AUTHOR)
    page.goto(f"{base}/topics/{document['id']}/edit")
    expect(page.locator("#badge-checks")).not_to_have_text("checking…")
    expect(node(page, document["start"])).to_be_visible()


def node(page, node_id: str):
    return page.locator(f'#diagram svg g[id="node-{node_id}"]')


def centre(page, locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 6, start[1] + 6, steps=2)
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def empty_spot(page) -> tuple[float, float]:
    """A point of the diagram's panel away from the drawing (its lower left corner)."""
    box = page.locator("#diagram").bounding_box()
    return box["x"] + 30, box["y"] + box["height"] - 30


def edge_middle(page, edge_id: str) -> tuple[float, float]:
    """The page coordinates of the middle of an arrow's line."""
    return tuple(page.evaluate("""(id) => {
        const path = document.getElementById(id).querySelector("path");
        const at = path.getPointAtLength(path.getTotalLength() / 2);
        const m = path.getScreenCTM();
        return [at.x * m.a + at.y * m.c + m.e, at.x * m.b + at.y * m.d + m.f];
    }""", edge_id))


def pick(page, label: str) -> None:
    page.locator(".canvas-menu .menu-item", has_text=label).first.click()


def document_of(page) -> dict:
    return page.evaluate("Parley.editor.document()")


def wait_checked(page) -> None:
    """Waits until the diagram and the checks show the document as it is now."""
    page.wait_for_function("""() => {
        const ids = (Parley.editor.document().nodes || []).map((n) => n.id);
        const drawn = Array.from(document.querySelectorAll('#diagram svg g[id^="node-"]'))
            .map((g) => g.id.slice(5));
        return ids.length === drawn.length && ids.every((id) => drawn.includes(id));
    }""")


def save(page, store, topic_id: str) -> dict:
    """Saves the draft; returns the stored document after checking it has no errors."""
    version_before = page.locator("#badge-version").inner_text()
    page.click("#save-btn")
    expect(page.locator("#badge-version")).not_to_have_text(version_before)
    expect(page.locator("#badge-unsaved")).to_be_hidden()
    expect(page.locator("#badge-checks")).not_to_contain_text("error")
    version = int(page.locator("#badge-version").inner_text().lstrip("v"))
    saved = store.topic_document(topic_id, version)
    errors = [p for p in problems(saved) if p.severity == "error"]
    assert errors == [], errors
    return saved


def report_issue_transcripts_pass(saved: dict) -> None:
    topics = [read_topic(p) for p in topic_files((str(TOPICS_DIR),))]
    topics = [saved if t["id"] == saved["id"] else t for t in topics]
    paths = sorted((TOPICS_DIR / "transcripts").glob("report_issue_*.json"))
    report = run_transcripts(paths, topics, sample_data=SAMPLE_RECORDS)
    assert [(r.path, str(r.mismatch)) for r in report.results if not r.passed] == []


# ---------------------------------------------------------------- the scenarios

def test_build_a_topic_by_dragging_on_the_diagram(page, served):
    base, store = served
    open_topic(page, base, store, small_topic("build_demo"))

    # -- create by drag: from hello's body to empty space, a yes/no question in between
    drag(page, centre(page, node(page, "hello")), empty_spot(page))
    expect(page.locator(".canvas-menu")).to_be_visible()
    shot(page, "canvas-10-kind-picker")
    pick(page, "Ask yes or no")
    expect(node(page, "ask_yes_no")).to_be_visible()
    expect(page.locator('#node-list [data-node="ask_yes_no"]')).to_have_class("node-item selected")
    assert document_of(page)["nodes"][0]["next"] == "ask_yes_no"
    field(page, "$.nodes[2].prompt").fill("Do you want the news?")

    # -- connect by drag from an exit tab: yes goes to bye
    yes_tab = page.locator('#diagram .exit-port[data-exit="on_yes"]')
    expect(yes_tab).to_be_visible()
    drag(page, centre(page, yes_tab), centre(page, node(page, "bye")))
    expect(page.locator('#diagram svg g[id="edge-ask_yes_no-on_yes"]')).to_have_count(1)

    # -- "no" to empty space makes a new text node, which a drag from its body links to bye
    node(page, "ask_yes_no").click()
    no_tab = page.locator('#diagram .exit-port[data-exit="on_no"]')
    drag(page, centre(page, no_tab), empty_spot(page))
    pick(page, "Send text")
    expect(node(page, "say")).to_be_visible()
    field(page, "$.nodes[3].text").fill("Maybe later, then.")
    drag(page, centre(page, node(page, "say")), centre(page, node(page, "bye")))
    expect(page.locator('#diagram svg g[id="edge-say-next"]')).to_have_count(1)
    document = document_of(page)
    assert document["nodes"][2]["on_no"] == "say" and document["nodes"][3]["next"] == "bye"

    # -- insert on an arrow: the chip of the Add panel dropped onto hello → ask_yes_no
    page.select_option("#add-kind", "response.text")
    wait_checked(page)
    drag(page, centre(page, page.locator("#add-drag")), edge_middle(page, "edge-hello-next"))
    expect(node(page, "say_2")).to_be_visible()
    document = document_of(page)
    assert document["nodes"][0]["next"] == "say_2"
    assert document["nodes"][4] == {"id": "say_2", "type": "response.text", "next": "ask_yes_no"}
    field(page, "$.nodes[4].text").fill("Here is the news.")
    expect(page.locator('#diagram svg g[id="edge-say_2-next"]')).to_have_count(1)
    shot(page, "canvas-11-built-by-dragging")

    # -- undo the insertion across the redraw (the text typed, then the node), redo it
    page.locator("#diagram").focus()
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    expect(node(page, "say_2")).to_have_count(0)
    assert document_of(page)["nodes"][0]["next"] == "ask_yes_no"
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    expect(node(page, "say_2")).to_be_visible()
    expect(node(page, "say_2")).to_contain_text("Here is the news.")

    saved = save(page, store, "build_demo")
    assert [n["id"] for n in saved["nodes"]] == ["hello", "bye", "ask_yes_no", "say", "say_2"]
    assert saved["nodes"][2]["on_yes"] == "bye"
    assert page.problems == []


def svg_width(page) -> float:
    return page.locator("#diagram svg").bounding_box()["width"]


def scroll_top(page) -> float:
    return page.evaluate("document.getElementById('diagram').scrollTop")


def test_keyboard_alone_builds_connects_and_renames_then_zoom_and_pan(page, served):
    base, store = served
    open_topic(page, base, store, small_topic("keys_demo"))
    status = page.locator("#status")

    # -- Tab reaches the start node; arrows move along the links
    page.locator("#diagram").focus()
    page.keyboard.press("Tab")
    expect(node(page, "hello")).to_be_focused()
    expect(node(page, "hello")).to_have_attribute("aria-label", "hello: Send text, start")
    page.keyboard.press("ArrowDown")
    expect(node(page, "bye")).to_be_focused()
    expect(node(page, "bye")).to_have_class("node parley-node cat-terminal type-flow-end selected")
    page.keyboard.press("ArrowUp")
    expect(node(page, "hello")).to_be_focused()

    # -- n adds a node after the selected one: kind picked by type-ahead, Enter
    page.keyboard.press("n")
    expect(page.locator(".canvas-menu")).to_be_visible()
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    expect(node(page, "ask_yes_no")).to_be_focused()
    assert document_of(page)["nodes"][0]["next"] == "ask_yes_no"
    page.keyboard.press("Enter")  # its form
    expect(field(page, "$.nodes[2].id")).to_be_focused()
    field(page, "$.nodes[2].prompt").fill("Ready?")
    node(page, "ask_yes_no").focus()

    # -- c connects: 1 picks the "yes" exit, typing picks the target, Enter
    page.keyboard.press("c")
    expect(status).to_contain_text("Connect ask_yes_no (exit: 1 yes, 2 no, 3 max attempts)")
    page.keyboard.press("1")
    page.keyboard.type("bye")
    expect(node(page, "bye")).to_have_class(re.compile(r"\bconnect-target\b"))
    shot(page, "canvas-20-keyboard-connect")
    page.keyboard.press("Enter")
    expect(page.locator('#diagram svg g[id="edge-ask_yes_no-on_yes"]')).to_have_count(1)
    expect(node(page, "ask_yes_no")).to_be_focused()
    page.keyboard.press("c")
    page.keyboard.press("2")
    page.keyboard.type("hel")
    page.keyboard.press("Enter")
    expect(page.locator('#diagram svg g[id="edge-ask_yes_no-on_no"]')).to_have_count(1)

    # -- e selects an arrow, Delete removes it, Ctrl+Z brings it back after the redraw
    page.keyboard.press("e")
    chosen = page.locator("#diagram svg g.selected-edge")
    expect(chosen).to_have_count(1)
    arrow_id = chosen.get_attribute("id")
    exit_key = arrow_id.removeprefix("edge-ask_yes_no-")
    assert exit_key in ("on_yes", "on_no")
    arrow = page.locator(f'#diagram svg g[id="{arrow_id}"]')
    page.keyboard.press("Delete")
    expect(arrow).to_have_count(0)
    assert exit_key not in document_of(page)["nodes"][2]
    page.keyboard.press("Control+z")
    expect(arrow).to_have_count(1)

    # -- F2 renames; every link follows
    node(page, "ask_yes_no").focus()
    page.keyboard.press("F2")
    page.keyboard.press("Control+a")
    page.keyboard.type("ready")
    page.keyboard.press("Enter")
    expect(node(page, "ready")).to_be_visible()
    assert document_of(page)["nodes"][0]["next"] == "ready"

    # -- n on a selected arrow inserts there; Delete takes the node out, the chain stays whole
    node(page, "hello").focus()
    page.keyboard.press("Enter")
    node(page, "hello").focus()
    page.keyboard.press("e")
    page.keyboard.press("n")
    page.keyboard.press("s")
    expect(page.locator(".canvas-menu .menu-item:focus")).to_have_text("Say: Send text")
    page.keyboard.press("Enter")
    expect(node(page, "say")).to_be_visible()
    assert document_of(page)["nodes"][0]["next"] == "say"
    assert document_of(page)["nodes"][3]["next"] == "ready"
    expect(node(page, "say")).to_be_focused()
    page.keyboard.press("Delete")
    expect(node(page, "say")).to_have_count(0)
    assert document_of(page)["nodes"][0]["next"] == "ready"

    # -- zoom with + - 0 and Ctrl+wheel; pan with the arrows (nothing selected) and a drag
    wait_checked(page)
    page.locator("#diagram").focus()
    fitted = svg_width(page)
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert svg_width(page) > fitted * 1.8
    page.keyboard.press("0")
    assert abs(svg_width(page) - fitted) < 2
    page.mouse.move(*centre(page, node(page, "ready")))
    page.keyboard.down("Control")
    for _ in range(4):
        page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    assert svg_width(page) > fitted * 2
    for _ in range(8):  # the drawing outgrows the panel (a small topic's, downwards)
        page.keyboard.press("+")
    page.keyboard.press("Escape")
    expect(page.locator("#diagram svg g.selected")).to_have_count(0)
    before = scroll_top(page)
    page.keyboard.press("ArrowDown")
    assert scroll_top(page) > before
    before = scroll_top(page)
    box = page.locator("#diagram").bounding_box()
    spot = (box["x"] + 12, box["y"] + box["height"] - 12)
    drag(page, spot, (spot[0], spot[1] - 150))
    assert scroll_top(page) > before
    shot(page, "canvas-21-zoomed")
    page.keyboard.press("0")

    # -- ? shows the keys
    page.keyboard.press("?")
    expect(page.locator("#canvas-help")).to_be_visible()
    expect(page.locator("#canvas-help")).to_contain_text("connect the selected node")
    page.keyboard.press("Escape")
    expect(page.locator("#canvas-help")).to_be_hidden()

    saved = save(page, store, "keys_demo")
    ready = saved["nodes"][2]
    assert (ready["id"], ready["on_yes"], ready["on_no"]) == ("ready", "bye", "hello")
    assert page.problems == []


def test_edit_report_issue_then_paste_its_nodes_into_another_topic(page, served):
    base, store = served
    open_topic(page, base, store, REPORT_ISSUE)

    # -- search and jump, then rename by double-click
    page.locator("#node-search").fill("I opened case")
    page.locator("#node-search").press("Enter")
    expect(node(page, "confirm")).to_have_class(
        "node parley-node cat-response type-response-text selected")
    node(page, "confirm").dblclick()
    prompt = page.get_by_label("New id for confirm")
    expect(prompt).to_be_focused()
    prompt.fill("thanks")
    prompt.press("Enter")
    expect(node(page, "thanks")).to_be_visible()
    assert document_of(page)["nodes"][2]["next"] == "thanks"
    expect(page.locator('#node-list [data-node="thanks"]')).to_be_visible()

    # -- insert on an arrow with the chip, then delete that node: the chain stays whole
    page.select_option("#add-kind", "flow.set")
    wait_checked(page)
    drag(page, centre(page, page.locator("#add-drag")), edge_middle(page, "edge-open_case-next"))
    expect(node(page, "set_values")).to_be_visible()
    assert document_of(page)["nodes"][2]["next"] == "set_values"
    node(page, "set_values").click()
    page.keyboard.press("Delete")
    expect(node(page, "set_values")).to_have_count(0)
    assert document_of(page)["nodes"][2]["next"] == "thanks"

    # -- select an arrow with the mouse and delete it; undo and redo across redraws
    wait_checked(page)
    arrow = page.locator('#diagram svg g[id="edge-ask_details-on_max_attempts"]')
    page.mouse.click(*edge_middle(page, "edge-ask_details-on_max_attempts"))
    expect(arrow).to_have_class("edge selected-edge")
    page.keyboard.press("Delete")
    expect(arrow).to_have_count(0)
    assert "on_max_attempts" not in document_of(page)["nodes"][1]
    page.keyboard.press("Control+z")
    expect(arrow).to_have_count(1)
    page.keyboard.press("Control+Shift+z")
    expect(arrow).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(arrow).to_have_count(1)
    assert document_of(page)["nodes"][1]["on_max_attempts"] == "offer_agent"

    # -- Shift+click selects two nodes; copy; paste here (new ids), undo that
    node(page, "ask_details").click()
    node(page, "open_case").click(modifiers=["Shift"])
    expect(page.locator("#diagram svg g.selected")).to_have_count(2)
    page.keyboard.press("Control+c")
    expect(page.locator("#status")).to_contain_text("Copied 2 nodes")
    page.keyboard.press("Control+v")
    expect(node(page, "ask_details_2")).to_be_visible()
    expect(node(page, "open_case_2")).to_be_visible()
    pasted = {n["id"]: n for n in document_of(page)["nodes"]}
    assert pasted["ask_details_2"]["next"] == "open_case_2"
    assert pasted["open_case_2"]["next"] == "thanks"
    shot(page, "canvas-30-pasted-within")
    page.keyboard.press("Control+z")
    expect(node(page, "ask_details_2")).to_have_count(0)

    saved = save(page, store, "report_issue")
    assert saved["start"] == "ask_category" and saved["nodes"][3]["id"] == "thanks"
    report_issue_transcripts_pass(saved)

    # -- in another topic's editor: paste, then link the pasted nodes in by dragging
    open_topic(page, base, store, small_topic("paste_target"))
    page.locator("#diagram").focus()
    page.keyboard.press("Control+v")
    expect(node(page, "ask_details")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("from report_issue")
    document = document_of(page)
    assert document["variables"]["details"]["type"] == "string"
    pasted = {n["id"]: n for n in document["nodes"]}
    assert pasted["ask_details"]["next"] == "open_case"
    assert "on_max_attempts" not in pasted["ask_details"]  # offer_agent is not here
    assert "next" not in pasted["open_case"]
    wait_checked(page)
    drag(page, centre(page, node(page, "open_case")), centre(page, node(page, "bye")))
    expect(page.locator('#diagram svg g[id="edge-open_case-next"]')).to_have_count(1)
    drag(page, centre(page, node(page, "hello")), centre(page, node(page, "ask_details")))
    expect(page.locator('#diagram svg g[id="edge-hello-next"]')).to_have_count(1)
    assert document_of(page)["nodes"][0]["next"] == "ask_details"

    # -- a rubber band (Shift+drag) around the whole drawing selects every node
    wait_checked(page)
    panel = page.locator("#diagram").bounding_box()
    page.keyboard.down("Shift")
    drag(page, (panel["x"] + 4, panel["y"] + 4),
         (panel["x"] + panel["width"] - 20, panel["y"] + panel["height"] - 20))
    page.keyboard.up("Shift")
    expect(page.locator("#status")).to_have_text(
        "4 nodes selected: Ctrl+C copies, Delete deletes.")
    expect(page.locator("#diagram svg g.selected")).to_have_count(4)
    shot(page, "canvas-31-pasted-into-another-topic")

    saved = save(page, store, "paste_target")
    assert [n["id"] for n in saved["nodes"]] == ["hello", "bye", "ask_details", "open_case"]
    assert page.problems == []


def many_choices_topic(topic_id: str, choices: int) -> dict:
    """A menu of `choices` options between a greeting and the end."""
    topic = small_topic(topic_id)
    topic["nodes"][0]["next"] = "menu"
    topic["variables"] = {"pick": {"type": "string"}}
    topic["nodes"].insert(1, {
        "id": "menu", "type": "input.static_choice", "prompt": "Pick one.", "var": "pick",
        "options": [{"label": f"Choice number {i}", "value": f"c{i}", "next": "bye"}
                    for i in range(choices)],
        "on_max_attempts": "bye"})
    return topic


def test_exit_tabs_of_a_node_with_many_choices_stay_beside_it(page, served):
    base, store = served
    open_topic(page, base, store, many_choices_topic("many_exits", 12))
    node(page, "menu").click()
    tabs = page.locator("#diagram .exit-port")
    expect(tabs).to_have_count(14)  # 12 choices, no valid choice (next) and max attempts
    shot(page, "canvas-40-many-exit-tabs")
    boxes = [tabs.nth(i).locator("rect").bounding_box() for i in range(14)]
    menu = node(page, "menu").bounding_box()
    row = boxes[0]["height"]
    for i, one in enumerate(boxes):  # no two tabs overlap
        for other in boxes[i + 1:]:
            assert (one["x"] + one["width"] <= other["x"] + 0.5
                    or other["x"] + other["width"] <= one["x"] + 0.5
                    or one["y"] + one["height"] <= other["y"] + 0.5
                    or other["y"] + other["height"] <= one["y"] + 0.5)
    # Stacked in columns as tall as the node (3 rows at least), not one long list below it.
    top = min(b["y"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    assert bottom - top <= max(menu["height"], 3 * row * 1.3) + 2
    assert top >= menu["y"] - 2
    bye = node(page, "bye").bounding_box()
    assert bottom <= bye["y"] or top >= bye["y"] + bye["height"] or all(
        b["x"] >= bye["x"] + bye["width"] or b["x"] + b["width"] <= bye["x"] for b in boxes)


def test_arrow_keys_move_on_a_big_topic_and_after_a_redraw(page, served):
    from devtools.topicgen import generate_topic

    base, store = served
    topic = generate_topic(400, seed=3)
    open_topic(page, base, store, topic)
    first = topic["start"]
    after = next(t.target for t in transitions(topic["nodes"][0]))
    page.locator("#diagram").focus()
    page.keyboard.press("Tab")
    expect(node(page, first)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(node(page, after)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(node(page, first)).to_be_focused()
    # A redraw (a new title changes the start node's label) is measured afresh.
    page.keyboard.press("Enter")  # its form
    field(page, "$.nodes[0].title").fill("A much longer title for the first node")
    expect(node(page, first).locator("text").first).to_have_text(
        "A much longer title for the first node")
    node(page, first).focus()
    page.keyboard.press("ArrowDown")
    expect(node(page, after)).to_be_focused()
