"""Diagrams for the designer's pages, kept so that big topics open and redraw fast.

Three levels, cheapest first: finished SVG by the exact drawing asked for (document, problems,
diff, overlay) in memory, then in gzip files under the instance folder for big topics; then
the layout kept for the same nodes, edges and texts (engine.diagram_layout: a redraw without
a new layout); then `dot` itself. Files rather than a table: this is derived data that any
process may drop and rebuild, it is big (megabytes of SVG for thousands of nodes) and it never
needs a transaction, so it stays out of the store and out of its migrations.

The editor's diagram (`editor_diagram`) never makes an author wait for the first full
drawing of a topic of thousands of nodes: it answers with the part around the start node
(engine.diagram_focus) while the whole is drawn in the background, and the page asks again.
Saving, publishing and importing draw a big topic in the background when it was never drawn.

Imports engine (diagram, diagram_layout, diagram_focus, store.dumps, errors) and flask.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app

from engine.diagram_layout import LayoutCache
from engine.errors import ParleyError, Problem
from engine.store import dumps

log = logging.getLogger(__name__)

BACKGROUND_FROM_NODES = 2000  # a first full drawing of this many nodes takes dot seconds
FILE_FROM_NODES = 300  # drawings of smaller topics are quick to make again: memory only
MEMORY_BYTES = 96 * 1024 * 1024
MAX_FILES = 200


def _problem_key(problem: Problem) -> list:
    return [problem.path, problem.message, problem.severity, problem.node]


def document_digest(document: Any) -> str:
    """A fingerprint of a document's content (computed once per request on big topics)."""
    return hashlib.sha256(dumps(document).encode("utf-8", "surrogatepass")).hexdigest()


def _key(digest: str, problems, options: dict[str, Any]) -> str:
    extra = {k: v if isinstance(v, dict | list | str | None) else repr(v)
             for k, v in sorted(options.items())}
    return hashlib.sha256(dumps([digest, [_problem_key(p) for p in problems or ()],
                                 extra]).encode("utf-8", "surrogatepass")).hexdigest()


def drawing_key(document: Any, **options: Any) -> str:
    """What identifies one drawing: the document and every option that changes it."""
    problems = options.pop("problems", None)
    return _key(document_digest(document), problems, options)


def editor_key(digest: str, problems: list[Problem]) -> str:
    """The key of the editor's whole diagram of the document with that digest (the same
    drawing as render_diagram's with only problems)."""
    return _key(digest, problems, {"diff": None, "removed_nodes": None, "overlay": None})


def node_count(document: Any) -> int:
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return len(nodes) if isinstance(nodes, list) else 0


class DiagramCache:
    """Finished SVG drawings (memory, then files) and the layout cache, for one folder."""

    def __init__(self, folder: Path | str | None):
        self.folder = Path(folder) if folder else None
        self.layouts = LayoutCache(self.folder / "layouts" if self.folder else None)
        self._svg: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._drawing: set[str] = set()  # keys being drawn in the background
        self._background = threading.Semaphore(1)  # one big drawing at a time: dot is hungry

    # -- finished drawings

    def svg(self, key: str) -> str | None:
        with self._lock:
            if key in self._svg:
                self._svg.move_to_end(key)
                return self._svg[key]
        path = self._file(key)
        if path is None:
            return None
        try:
            svg = gzip.decompress(path.read_bytes()).decode("utf-8")
            os.utime(path)
        except (OSError, EOFError, ValueError):
            return None
        self._remember(key, svg)
        return svg

    def keep(self, key: str, svg: str, *, nodes: int) -> None:
        self._remember(key, svg)
        path = self._file(key)
        if path is None or nodes < FILE_FROM_NODES:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
                out.write(gzip.compress(svg.encode("utf-8"), compresslevel=3))
            os.replace(out.name, path)
            files = sorted(path.parent.glob("*.svg.gz"), key=lambda p: p.stat().st_mtime)
            for old in files[:max(0, len(files) - MAX_FILES)]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # a cache that cannot write only makes the next opening slower

    def _file(self, key: str) -> Path | None:
        return self.folder / "svg" / f"{key}.svg.gz" if self.folder else None

    def _remember(self, key: str, svg: str) -> None:
        with self._lock:
            if key in self._svg:
                self._bytes -= len(self._svg.pop(key))
            self._svg[key] = svg
            self._bytes += len(svg)
            while self._bytes > MEMORY_BYTES and len(self._svg) > 1:
                self._bytes -= len(self._svg.popitem(last=False)[1])

    def forget_memory(self) -> None:
        """Drop what is kept in memory (files stay), as a restarted process would have it."""
        with self._lock:
            self._svg.clear()
            self._bytes = 0
        self.layouts = LayoutCache(self.layouts.folder)

    # -- drawing

    def draw(self, key: str, source: Callable[[], str], *, nodes: int) -> str:
        """The drawing under `key`, made from the DOT source `source()` when not kept."""
        from engine.diagram import draw_svg

        svg = self.svg(key)
        if svg is None:
            svg = draw_svg(source(), layouts=self.layouts)
            self.keep(key, svg, nodes=nodes)
        return svg

    def draw_later(self, key: str, source: Callable[[], str], *, nodes: int) -> bool:
        """Start drawing in a background thread; False when it is already under way."""
        with self._lock:
            if key in self._drawing:
                return False
            self._drawing.add(key)

        def work() -> None:
            try:
                with self._background:
                    self.draw(key, source, nodes=nodes)
            except Exception:  # noqa: BLE001 - the page says the diagram could not be drawn
                log.exception("drawing a diagram in the background failed")
            finally:
                with self._lock:
                    self._drawing.discard(key)

        threading.Thread(target=work, name="parley-diagram", daemon=True).start()
        return True

    def drawing(self, key: str) -> bool:
        with self._lock:
            return key in self._drawing


def cache() -> DiagramCache:
    """The app's diagram cache (folder: the DIAGRAM_CACHE_DIR setting)."""
    app = current_app
    found = app.extensions.get("parley_diagrams")
    if found is None:
        found = app.extensions["parley_diagrams"] = DiagramCache(
            app.config.get("DIAGRAM_CACHE_DIR"))
    return found


def _failure(exc: Exception) -> str:
    if isinstance(exc, ParleyError | KeyError | TypeError | ValueError | AttributeError):
        return f"The diagram cannot be drawn yet: {exc}"
    return f"Graphviz could not draw the diagram: {exc}"


def render_diagram(document: dict, *, problems: list[Problem] = (), diff: dict | None = None,
                   removed_nodes: list[dict] | None = None,
                   overlay=None) -> tuple[str | None, str | None]:
    """(SVG, None) or (None, why it could not be drawn), waiting for it however long it takes.
    `overlay` is an engine.diagram.Overlay (Insight's counts or a conversation's path)."""
    from engine.diagram import topic_graph

    options = {"problems": list(problems), "diff": diff or None,
               "removed_nodes": removed_nodes or None, "overlay": overlay}
    key = drawing_key(document, **options)
    try:
        svg = cache().draw(key, lambda: topic_graph(document, **options).source,
                           nodes=node_count(document))
    except Exception as exc:  # noqa: BLE001 - graphviz errors and checker bugs alike
        return None, _failure(exc)
    return svg, None


def editor_diagram(document: dict, *, problems: list[Problem], focus: str | None = None,
                   digest: str | None = None) -> dict[str, Any]:
    """The editor's diagram as JSON: the whole topic, or the part around `focus`.

    A topic of BACKGROUND_FROM_NODES or more whose whole drawing would need a new layout is
    drawn in the background; meanwhile the answer has `pending` true and the part around the
    start node (or `focus`), and the page asks again.
    """
    from engine.diagram import draw_svg, topic_graph
    from engine.diagram_focus import focus_graph

    total = node_count(document)
    out: dict[str, Any] = {"svg": None, "diagram_error": None, "view": "whole",
                           "pending": False, "nodes": total, "shown": total, "focus": None}
    try:
        if focus is None:
            key = editor_key(digest or document_digest(document), problems)
            kept = cache()
            svg = kept.svg(key)
            if svg is not None:
                out["svg"] = svg
                return out
            if total < BACKGROUND_FROM_NODES:
                out["svg"] = kept.draw(
                    key, lambda: topic_graph(document, problems=problems).source, nodes=total)
                return out
            # Even with its layout kept, a big topic's DOT source and redraw take a second or
            # two: done behind the page, which keeps showing what it has and asks again.
            kept.draw_later(key, lambda: topic_graph(document, problems=problems).source,
                            nodes=total)
            out["pending"] = True
            focus = document.get("start") if isinstance(document.get("start"), str) else None
            nodes = document.get("nodes") or []
            if focus is None and nodes and isinstance(nodes[0], dict):
                focus = nodes[0].get("id")
        graph, shown = focus_graph(document, focus or "", problems=problems)
        out.update(svg=draw_svg(graph.source), view="focus", shown=len(shown), focus=focus)
    except Exception as exc:  # noqa: BLE001 - graphviz errors and checker bugs alike
        out["diagram_error"] = _failure(exc)
    return out


def prepare(document: dict, problems: list[Problem]) -> None:
    """Draw a big topic's diagram in the background unless it is kept, so that the editor
    opens it at once (after a save, a publish or an import)."""
    from engine.diagram import topic_graph

    total = node_count(document)
    if total < FILE_FROM_NODES:
        return
    key = editor_key(document_digest(document), problems)
    kept = cache()
    if kept.svg(key) is None:
        kept.draw_later(key, lambda: topic_graph(document, problems=problems).source,
                        nodes=total)
