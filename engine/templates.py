"""Bot text templates and branch conditions, in Jinja2's sandbox. Imports nothing from Parley.

Authors write `{{ case.number }}` in texts and `priority == "high"` in conditions. Both are
compiled once per topic version; rendering never evaluates Python (`eval` is never used).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Undefined variables render as "" in texts (a missing name must not break an SMS), but
# conditions see them as falsy. Autoescape is off: SMS is plain text, never HTML.
_env = ImmutableSandboxedEnvironment(undefined=Undefined, autoescape=False)
_strict_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class RenderError(Exception):
    """A template or condition failed at run time (bad attribute, sandbox refusal...)."""


@lru_cache(maxsize=8192)
def compile_text(source: str) -> Callable[[Mapping[str, Any]], str]:
    """A renderer for a text template; plain text without markup skips Jinja entirely."""
    if "{" not in source:
        return lambda _context, _text=source: _text
    template = _env.from_string(source)

    def render(context: Mapping[str, Any]) -> str:
        try:
            return template.render(context)
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise RenderError(f"template {source!r} failed: {exc}") from exc

    return render


@lru_cache(maxsize=8192)
def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """An evaluator for a condition or value expression such as `answer == "yes"`."""
    expression = _env.compile_expression(source, undefined_to_none=True)

    def evaluate(context: Mapping[str, Any]) -> Any:
        try:
            return expression(**context)
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise RenderError(f"expression {source!r} failed: {exc}") from exc

    return evaluate


def render(source: str, context: Mapping[str, Any]) -> str:
    return compile_text(source)(context)


def template_names(source: str) -> set[str]:
    """Top-level variable names a template refers to (for the validator's warnings)."""
    from jinja2 import meta

    return set(meta.find_undeclared_variables(_strict_env.parse(source)))
