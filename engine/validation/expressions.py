"""Templates and expressions parsed for their syntax, free names and the sandbox's limits. Imports
engine.template_checks and jinja2.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from jinja2 import nodes as jinja_nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from engine.template_checks import check_tree

_ENV = SandboxedEnvironment()
_JINJA_SPECIAL = frozenset({"loop", "caller", "varargs", "kwargs"})  # defined by Jinja itself


# -- Templates and expressions ------------------------------------------------------------

class _Parsed(NamedTuple):
    error: str | None
    names: frozenset[str]  # free variable names
    limits: tuple[str, ...] = ()  # what would go over the sandbox's limits (template_checks)


def _syntax_message(exc: TemplateSyntaxError) -> str:
    line = f" on line {exc.lineno}" if exc.lineno and exc.lineno > 1 else ""
    return f"syntax error{line}: {exc.message}"


def _free_names(tree: jinja_nodes.Node) -> frozenset[str]:
    """Names a template reads that it does not set itself.

    Cheaper than jinja2.meta.find_undeclared_variables (which runs the code generator) and
    coarser: a name the template sets anywhere counts as set everywhere in it.
    """
    loaded, stored = set(), set()
    for name in tree.find_all(jinja_nodes.Name):
        (loaded if name.ctx == "load" else stored).add(name.name)
    return frozenset(loaded - stored - _JINJA_SPECIAL)


@lru_cache(maxsize=8192)
def _parse_template(source: str) -> _Parsed:
    if "{" not in source:
        return _Parsed(None, frozenset())  # no Jinja markup: plain text
    try:
        tree = _ENV.parse(source)
        return _Parsed(None, _free_names(tree), check_tree(tree))
    except TemplateSyntaxError as exc:
        return _Parsed("template " + _syntax_message(exc), frozenset())
    except RecursionError:
        return _Parsed("template is nested too deeply", frozenset())


@lru_cache(maxsize=8192)
def _parse_expression(source: str) -> _Parsed:
    # The same parse as Environment.compile_expression, without generating code: the engine
    # compiles it when it loads the topic, and validation only needs the syntax and the names.
    try:
        parser = Parser(_ENV, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression",
                                      parser.stream.current.lineno, None, None)
        return _Parsed(None, _free_names(expression), check_tree(expression))
    except TemplateSyntaxError as exc:
        message = _syntax_message(exc).replace("end of template", "end of expression")
        return _Parsed("expression " + message, frozenset())
    except RecursionError:
        return _Parsed("expression is nested too deeply", frozenset())
