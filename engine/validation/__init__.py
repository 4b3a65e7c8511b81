"""Everything that checks a topic document: its JSON text, the JSON Schema, then its meaning.

`problems(doc)` lists every error and warning, each with the JSON path it concerns, for the
designer to show; `check(doc)` raises `TopicError` when there are errors and returns the
warnings, for publishing. Nothing here raises on a malformed document: checks look only at the
parts that are well formed, so one mistake gives one problem, not a cascade.

Imports its own modules, one per concern, each of which says what it may import:
`documents` (node kinds, JSON text and paths, value helpers), `schema` (the JSON Schema and
its explanations), `expressions` (template and expression parsing), `nodes` (the indexed
document, transitions and checks on nodes), `sources` (data sources), `texts` (templates and
message sizes), `graph` (reachability, traps, loops) and `notifications` (notification
templates); plus engine.errors and engine.outbound. The graph checks are iterative and linear
in the size of the topic, so a topic of thousands of nodes neither recurses nor crawls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from engine.errors import Problem, TopicError
from engine.outbound import OutboundPolicy
from engine.validation.documents import (
    FLOW_TYPES,
    INPUT_TYPES,
    NODE_TYPE_ORDER,
    NODE_TYPES,
    RESPONSE_TYPES,
    TERMINAL_TYPES,
    _problem_sort_key,
    json_path,
    load_json_text,
    node_type,
)
from engine.validation.graph import _check_graph
from engine.validation.nodes import (
    BUILTIN_NAMES,
    Transition,
    _check_discovery,
    _check_duplicate_ids,
    _check_inputs,
    _check_reserved_words,
    _check_shadowed_names,
    _check_static_choices,
    _check_targets,
    _Topic,
    transitions,
)
from engine.validation.notifications import _check_notifications
from engine.validation.schema import SCHEMA_PATH, _schema_findings, topic_schema
from engine.validation.schema import _schema_errors as _schema_errors  # compared in tests
from engine.validation.sources import (
    _check_http_sources,
    _check_source_scopes,
    _check_sources,
    host_problems,
)
from engine.validation.texts import MAX_SEGMENTS, _check_message_sizes, _check_templates

__all__ = [
    "BUILTIN_NAMES", "FLOW_TYPES", "INPUT_TYPES", "MAX_SEGMENTS", "NODE_TYPES", "NODE_TYPE_ORDER",
    "RESPONSE_TYPES", "SCHEMA_PATH", "TERMINAL_TYPES", "Transition", "check", "host_problems",
    "json_path", "load_json_text", "node_type", "problems", "topic_schema", "transitions",
]


_CHECKS: tuple[Callable[[_Topic], Iterator[Problem]], ...] = (
    _check_duplicate_ids,
    _check_targets,
    _check_graph,
    _check_static_choices,
    _check_reserved_words,
    _check_sources,
    _check_http_sources,
    _check_source_scopes,
    _check_inputs,
    _check_shadowed_names,
    _check_discovery,
    _check_templates,
    _check_message_sizes,
    _check_notifications,
)


# -- Public entry points ------------------------------------------------------------------

def problems(doc: Any, *, outbound: OutboundPolicy | None = None) -> list[Problem]:
    """Every error and warning in a topic document, sorted by path. Never raises.

    With `outbound`, an http source whose host it refuses is a warning.
    """
    findings = _schema_findings(doc)
    found = [finding.problem for finding in findings]
    if isinstance(doc, dict):
        topic = _Topic.build(doc, findings)
        for check in _CHECKS:
            found.extend(check(topic))
        if outbound is not None:
            found.extend(host_problems(doc, outbound))
    unique = {(p.path, p.message, p.severity): p for p in found}
    return sorted(unique.values(), key=_problem_sort_key)


def check(doc: Any, *, source: str | None = None,
          outbound: OutboundPolicy | None = None) -> list[Problem]:
    """The warnings of a valid topic; raises TopicError listing the errors of an invalid one.

    With `outbound` (publishing), an http source whose host it refuses is an error.
    """
    found = problems(doc)
    if outbound is not None:
        found += host_problems(doc, outbound, severity="error")
    if any(p.severity == "error" for p in found):
        raise TopicError(found, source=source)
    return [p for p in found if p.severity == "warning"]
