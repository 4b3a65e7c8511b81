"""Diagram layouts kept and reused: a topic is laid out by `dot` once, then redrawn from its
kept positions for as long as what decides them stays the same.

Placing the nodes is what takes `dot` long on a big topic (seconds for thousands of nodes);
drawing already-placed nodes (`neato -n2`) takes a fraction of that. A layout depends on the
graph's nodes, edges and label texts, not on colours, classes, ids or tooltips, so it is kept
under a key made from the DOT source with those styling attributes left out (`layout_key`):
marking problems, selecting a node or colouring a diff redraws with the same positions.

`LayoutCache` keeps layouts in memory and, given a folder, in files there too (one JSON file
of positions per layout), so that a big topic opens from its kept layout after a restart.
`draw(source, cache=...)` returns the SVG for a DOT source and how it was obtained.

Imports only the standard library; runs Graphviz's `dot` and `neato` programs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

PERSIST_FROM_NODES = 150  # smaller layouts take dot a blink: not worth a file
MAX_FILES = 400  # layout files kept in a cache folder, the least recently used go first
MEMORY_LAYOUTS = 64

# Attributes that do not move anything on the diagram (outside HTML labels).
_STYLING = ("class", "color", "fillcolor", "fontcolor", "id", "penwidth", "style", "tooltip",
            "URL", "href", "target")
_HTML = r"<(?:[^<>]|<(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*>)*>"  # an HTML label, nested 4 deep
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_SIGNATURE = re.compile(
    rf"((?<=[\s\[,;])(?:{'|'.join(_STYLING)})=(?:{_QUOTED}|{_HTML}|[^\s\],;]+))"
    rf"|({_QUOTED}|{_HTML})")
_ID = rf'(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*|-?(?:\.\d+|\d+(?:\.\d*)?)|{_QUOTED})'
_BLANKS = re.compile(r"\s+")  # what a removed attribute leaves behind
_EDGE_LINE = re.compile(rf"^\t{_ID} -> {_ID}")


class LayoutError(RuntimeError):
    """Graphviz could not lay out or draw the graph (the message is dot's own)."""


def layout_key(source: str) -> str:
    """A key for what decides the layout of a DOT source: all but its styling attributes."""
    kept = _BLANKS.sub(" ", _SIGNATURE.sub(lambda m: m.group(2) or "", source))
    return hashlib.sha256(kept.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Layout:
    """Where `dot` put everything: the bounding box, each node's position by name, and each
    edge's spline and label positions in the order of the source's edge statements."""

    bb: str
    nodes: dict[str, str]
    edges: list[dict[str, str]]

    def to_json(self) -> str:
        return json.dumps({"bb": self.bb, "nodes": self.nodes, "edges": self.edges},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        return cls(data["bb"], data["nodes"], data["edges"])

    @classmethod
    def from_graphviz_json(cls, text: str) -> Layout:
        data = json.loads(text)
        nodes = {o["name"]: o["pos"] for o in data.get("objects", ()) if "pos" in o}
        edges = [{k: e[k] for k in ("pos", "lp", "xlp") if k in e}
                 for e in sorted(data.get("edges", ()), key=lambda e: e["_gvid"])]
        return cls(data.get("bb", "0,0,0,0"), nodes, edges)


class LayoutCache:
    """Layouts by key: the last few in memory, and with a `folder` every big one in a file."""

    def __init__(self, folder: Path | str | None = None, *, memory: int = MEMORY_LAYOUTS):
        self.folder = Path(folder) if folder is not None else None
        self.memory = memory
        self._kept: OrderedDict[str, Layout] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Layout | None:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            layout = Layout.from_json(path.read_text(encoding="utf-8"))
            os.utime(path)  # recently used: pruned last
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._remember(key, layout)
        return layout

    def put(self, key: str, layout: Layout) -> None:
        self._remember(key, layout)
        if self.folder is None or len(layout.nodes) < PERSIST_FROM_NODES:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.folder,
                                             suffix=".tmp", delete=False) as out:
                out.write(layout.to_json())
            os.replace(out.name, self.folder / f"{key}.json")
            self._prune()
        except OSError:
            pass  # a cache that cannot write only makes the next drawing slower

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._kept:
                return True
        return self.folder is not None and (self.folder / f"{key}.json").exists()

    def _remember(self, key: str, layout: Layout) -> None:
        with self._lock:
            self._kept[key] = layout
            self._kept.move_to_end(key)
            while len(self._kept) > self.memory:
                self._kept.popitem(last=False)

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in files[:max(0, len(files) - MAX_FILES)]:
            path.unlink(missing_ok=True)


def _run(command: list[str], source: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, input=source.encode("utf-8", "surrogatepass"),
                              capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"Graphviz's `{command[0]}` program was not found") from exc
    if done.returncode != 0:
        raise LayoutError(done.stderr.decode("utf-8", "replace").strip() or
                          f"{command[0]} failed")
    return done


def lay_out(source: str) -> tuple[str, Layout]:
    """Run `dot` once: the SVG and the layout it chose."""
    with tempfile.TemporaryDirectory(prefix="parley-dot-") as folder:
        svg_path, json_path = Path(folder, "out.svg"), Path(folder, "out.json")
        _run(["dot", "-Tsvg", f"-o{svg_path}", "-Tjson0", f"-o{json_path}"], source)
        return (svg_path.read_text(encoding="utf-8"),
                Layout.from_graphviz_json(json_path.read_text(encoding="utf-8")))


def placed(source: str, layout: Layout) -> str:
    """The DOT source with the layout's positions written in, ready for `neato -n2`."""
    lines = source.splitlines(keepends=True)
    edges = iter(layout.edges)
    out = []
    for line in lines:
        if _EDGE_LINE.match(line):
            where = next(edges, None)
            if where:
                extra = " ".join(f'{k}="{v}"' for k, v in where.items())
                bare = line.rstrip("\n")
                line = (bare[:-1] + " " + extra + "]\n" if bare.endswith("]")
                        else f"{bare} [{extra}]\n")
        out.append(line)
    text = "".join(out).rstrip()
    if not text.endswith("}"):
        raise LayoutError("not a DOT graph")
    positions = "".join(f'\t"{_dot_escape(name)}" [pos="{pos}"]\n'
                        for name, pos in layout.nodes.items())
    return f'{text[:-1]}\tgraph [bb="{layout.bb}"]\n{positions}}}\n'


def _dot_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def render_placed(source: str, layout: Layout) -> str:
    """Draw the DOT source at the layout's positions (no new layout)."""
    return _run(["neato", "-n2", "-Tsvg"], placed(source, layout)).stdout.decode("utf-8")


def draw(source: str, *, cache: LayoutCache | None) -> tuple[str, bool]:
    """(SVG, whether a kept layout was used) for a DOT source; lays it out when none is kept."""
    key = layout_key(source)
    layout = cache.get(key) if cache is not None else None
    if layout is not None:
        return render_placed(source, layout), True
    svg, layout = lay_out(source)
    if cache is not None:
        cache.put(key, layout)
    return svg, False
