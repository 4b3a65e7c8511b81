"""Topic documents as data: node kinds, JSON text and paths, small value helpers and problems.
Imports engine.errors only.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from engine.errors import Problem, TopicError

INPUT_TYPES = frozenset({
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker",
})
RESPONSE_TYPES = frozenset({"response.text", "response.image", "response.link", "response.card"})
FLOW_TYPES = frozenset({
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record", "flow.handoff", "flow.end",
})
TERMINAL_TYPES = frozenset({"flow.handoff", "flow.end"})
NODE_TYPES = INPUT_TYPES | RESPONSE_TYPES | FLOW_TYPES
# Listed in the schema's order, for messages.
NODE_TYPE_ORDER = (
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker", "response.text", "response.image", "response.link", "response.card",
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record", "flow.handoff", "flow.end",
)

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# -- JSON paths and small helpers ---------------------------------------------------------

def json_path(*parts: str | int) -> str:
    """A JSON path from keys and indices: json_path("nodes", 3, "next") == "$.nodes[3].next"."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.match(str(part)):
            out.append(f".{part}")
        else:
            out.append("[" + json.dumps(str(part), ensure_ascii=False) + "]")
    return "".join(out)


def _path_sort_key(path: str) -> list:
    # Split into text and numbers so that $.nodes[10] sorts after $.nodes[9]. re.split with one
    # capturing group alternates text, digits, text..., so the list elements always compare.
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", path))]


def _problem_sort_key(problem: Problem) -> tuple:
    return (_path_sort_key(problem.path), problem.severity != "error", problem.message)


def _quote(value: Any, *, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when `word` looks like a typo of one of `choices`, else ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def node_type(node: Any) -> str | None:
    """The node's type if it is one of the known ones, else None (whatever the value is)."""
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) and kind in NODE_TYPES else None


def _node_id(doc: Any, parts: tuple) -> str | None:
    """Id of the node that the path `parts` lies in, if it is one with a string id."""
    if len(parts) >= 2 and parts[0] == "nodes" and isinstance(parts[1], int):
        nodes = _list(_dict(doc).get("nodes"))
        if 0 <= parts[1] < len(nodes):
            return _str(_dict(nodes[parts[1]]).get("id"))
    return None


# -- JSON text ----------------------------------------------------------------------------

class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadConstant(name)


def load_json_text(text: str | bytes, *, source: str | None = None) -> dict:
    """Parse a topic's JSON text; raise TopicError on bad syntax or duplicate keys.

    Python's json module silently keeps the last of two equal keys, which hides an author's
    mistake (two "next" in one node), so duplicates are errors here, reported at the path of
    the object holding them.
    """
    duplicates: dict[int, list[str]] = {}
    made: list[dict] = []  # keeps every object alive so that id() stays unique

    def collect(pairs: list[tuple[str, Any]]) -> dict:
        obj: dict = {}
        for key, value in pairs:
            if key in obj and key not in duplicates.get(id(obj), ()):
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = value
        made.append(obj)
        return obj

    def fail(message: str) -> TopicError:
        return TopicError([Problem("$", message)], source=source)

    try:
        doc = json.loads(text, object_pairs_hook=collect, parse_constant=_reject_constant)
    except _BadConstant as exc:
        raise fail(f"invalid JSON: {exc} is not a JSON value") from None
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise fail("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # undecodable bytes
        raise fail(f"invalid JSON: {exc}") from None
    if duplicates:
        raise TopicError(list(_duplicate_problems(doc, duplicates)), source=source)
    if not isinstance(doc, dict):
        raise fail(f"a topic must be a JSON object, not {_json_type(doc)}")
    return doc


def _duplicate_problems(doc: Any, duplicates: dict[int, list[str]]) -> Iterator[Problem]:
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            for key in duplicates.get(id(value), ()):
                yield Problem(json_path(*parts),
                              f"duplicate key {key!r}: JSON keeps only the last value, so the "
                              "earlier one would be silently ignored",
                              node=_node_id(doc, parts))
            stack.extend((child, (*parts, key)) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, (*parts, index)) for index, child in enumerate(value))


# -- Problems -----------------------------------------------------------------------------

def _error(path: str, message: str, node: str | None = None) -> Problem:
    return Problem(path, message, "error", node)


def _warning(path: str, message: str, node: str | None = None) -> Problem:
    return Problem(path, message, "warning", node)
