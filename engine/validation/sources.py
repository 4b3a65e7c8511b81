"""Checks on data sources: declared names, http URLs and hosts, sqlite filters a texter steers.
Imports engine.errors, engine.validation.documents, .nodes, .expressions and engine.outbound
(the data-source allow-list, consulted only when passed as `outbound=`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from engine.errors import Problem
from engine.outbound import DATA_SOURCE_SETTING, OutboundPolicy
from engine.validation.documents import (
    INPUT_TYPES,
    _dict,
    _error,
    _suggest,
    _warning,
    json_path,
)
from engine.validation.expressions import _parse_expression, _parse_template
from engine.validation.nodes import _assigned, _Topic


def _check_sources(topic: _Topic) -> Iterator[Problem]:
    declared = topic.declared_sources()
    known = ", ".join(sorted(declared)) if declared else "none"
    for node in topic.nodes:
        if node.type not in ("input.dynamic_choice", "flow.lookup"):
            continue
        source = node.data.get("source")
        if isinstance(source, str) and source not in declared and not topic.has_error(
                "nodes", node.index, "source"):
            yield _error(node.at("source"), f"data source {source!r} is not declared in "
                         f"'data_sources'{_suggest(source, declared)} (declared: {known})",
                         node.id)


# An http source's URL must name its scheme and host literally, so the allow-list can be
# checked before publishing; values go only into the path and query (percent-encoded).
_URL_ORIGIN = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#{}\s@]+)(?=[/?#]|$)")
_SCOPE_HINT = ('add "scope": "linked_user" so the engine itself keeps the rows to the texter\'s '
               "linked account (a guest gets none)")


def _http_urls(topic: _Topic) -> Iterator[tuple[str, str, str]]:
    """(source name, url, JSON path) of every http source whose url is a well-formed string."""
    for name, spec in _dict(topic.doc.get("data_sources")).items():
        spec = _dict(spec)
        url = spec.get("url")
        if spec.get("kind") == "http" and isinstance(url, str) and not topic.has_error(
                "data_sources", name, "url"):
            yield name, url, json_path("data_sources", name, "url")


def _check_http_sources(topic: _Topic) -> Iterator[Problem]:
    for _name, url, path in _http_urls(topic):
        match = _URL_ORIGIN.match(url)
        if match is None:
            yield _error(path, "write the start of the url out, such as "
                         "https://api.example.com/cases/{{ case_number }}: its scheme and host "
                         "can't come from a template (only the path and query can, and their "
                         "values are percent-encoded)")
        elif match["scheme"].lower() not in ("http", "https"):
            yield _error(path, f"an http source GETs https:// (or allowed http://) URLs, not "
                         f"{match['scheme']}://")


def _typed_names(topic: _Topic) -> set[str]:
    """Variables whose value a texter chose: inputs' answers, and values computed from them."""
    typed: set[str] = set()
    for node in topic.nodes:
        if node.type in INPUT_TYPES:
            typed.update(_assigned(node))
    computed = [(str(key), value) for node in topic.nodes if node.type == "flow.set"
                for key, value in _dict(node.data.get("values")).items()
                if isinstance(value, str)]
    changed = True
    while changed:  # a flow.set that copies an answer passes it on
        changed = False
        for key, value in computed:
            if key not in typed and _parse_expression(value).names & (typed | {"vars"}):
                typed.add(key)
                changed = True
    if typed:
        typed.add("vars")  # vars.<answer> reads the same values
    return typed


def _check_source_scopes(topic: _Topic) -> Iterator[Problem]:
    typed = _typed_names(topic)
    for name, spec in _dict(topic.doc.get("data_sources")).items():
        spec = _dict(spec)
        if spec.get("kind") != "sqlite" or spec.get("scope") == "linked_user":
            continue
        for column, template in _dict(spec.get("where")).items():
            if not isinstance(template, str) or topic.has_error("data_sources", name, "where",
                                                                column):
                continue
            used = sorted(_parse_template(template).names & typed)
            if used:
                yield _warning(json_path("data_sources", name, "where", column),
                               f"this filter uses {used[0]!r}, which the texter typed: they "
                               f"could list {spec.get('table', 'rows')} that are not theirs; "
                               f"{_SCOPE_HINT}")


def host_problems(doc: Any, policy: OutboundPolicy, *,
                  severity: str = "warning") -> list[Problem]:
    """The http sources whose host `policy` (PARLEY_DATA_SOURCE_HOSTS) refuses."""
    if not isinstance(doc, dict):
        return []
    found = []
    for _name, url, path in _http_urls(_Topic.build(doc, [])):
        match = _URL_ORIGIN.match(url)
        if match is None:
            continue  # _check_http_sources reports it
        reason = policy.refusal(match.group(0) + "/")
        if reason is not None:
            found.append(Problem(path, f"{reason}; the fetch is refused at run time: add the "
                                 f"host to PARLEY_{DATA_SOURCE_SETTING} where Parley runs "
                                 f"(e.g. {match['host'].lower()})", severity))
    return found
