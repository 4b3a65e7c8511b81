"""Bot text templates and branch conditions, in Parley's bounded Jinja2 sandbox.

Imports engine.template_sandbox (and through it engine.errors). Authors write
`{{ case.number }}` in texts and `priority == "high"` in conditions. Both are compiled once
per source text; rendering never evaluates Python (`eval` is never used), and every render
is bounded in steps, time and size (engine/template_sandbox.py): a template over a limit fails
with TemplateLimitError instead of holding the database's write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined

from engine.template_sandbox import (
    MAX_LENGTH,
    BoundedEnvironment,
    RenderError,
    TemplateLimitError,
    close_budget,
    open_budget,
)

# Undefined variables render as "" in texts (a missing name must not break an SMS), but
# conditions see them as falsy. Autoescape is off: SMS is plain text, never HTML.
_env = BoundedEnvironment(undefined=Undefined, autoescape=False)
_strict_env = BoundedEnvironment(undefined=StrictUndefined, autoescape=False)


def _failed(kind: str, source: str, exc: BaseException) -> RenderError:
    shown = source if len(source) <= 60 else source[:57] + "..."
    cls = type(exc) if isinstance(exc, RenderError) else RenderError
    reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    error = cls(f"{kind} {shown!r} failed: {reason}")
    error.__cause__ = exc
    return error


def _broken(kind: str, source: str, exc: BaseException) -> Callable[[Mapping[str, Any]], Any]:
    def fail(_context: Mapping[str, Any]) -> Any:
        raise _failed(kind, source, exc)

    return fail


def overlay(**options: Any) -> BoundedEnvironment:
    """The templates' own bounded sandbox with some options changed (e.g. a `finalize`)."""
    return _env.overlay(**options)


def render_bounded(template: Template, context: Mapping[str, Any], *, source: str,
                   kind: str = "template") -> str:
    """Render a compiled template of this sandbox within its work budget and output cap."""
    # The output streams in and stops at the limit: a loop of output never piles up.
    # (Template.generate() is this loop plus a generator layer of its own per chunk.)
    parts, size = [], 0
    token = open_budget()
    try:
        chunks = template.root_render_func(template.new_context(dict(context)))
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_LENGTH:
                    raise TemplateLimitError(
                        f"its text is longer than {MAX_LENGTH:,} characters")
                parts.append(chunk)
        finally:
            chunks.close()
    except Exception as exc:
        raise _failed(kind, source, exc) from exc
    finally:
        close_budget(token)
    return "".join(parts)


@lru_cache(maxsize=8192)
def compile_text(source: str) -> Callable[[Mapping[str, Any]], str]:
    """A renderer for a text template; plain text without markup skips Jinja entirely."""
    if "{" not in source:
        return lambda _context, _text=source: _text
    try:
        template = _env.from_string(source)
    except Exception as exc:  # a topic stored without validation: fail each render clearly
        return _broken("template", source, exc)

    def render(context: Mapping[str, Any]) -> str:
        return render_bounded(template, context, source=source)

    return render


@lru_cache(maxsize=8192)
def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """An evaluator for a condition or value expression such as `answer == "yes"`."""
    try:
        expression = _env.compile_expression(source, undefined_to_none=True)
    except Exception as exc:
        return _broken("expression", source, exc)

    def evaluate(context: Mapping[str, Any]) -> Any:
        token = open_budget()
        try:
            value = expression(**context)
            if isinstance(value, str | list | tuple | dict) and len(value) > MAX_LENGTH:
                raise TemplateLimitError(f"its value is longer than {MAX_LENGTH:,}")
        except Exception as exc:
            raise _failed("expression", source, exc) from exc
        finally:
            close_budget(token)
        return value

    return evaluate


def render(source: str, context: Mapping[str, Any]) -> str:
    return compile_text(source)(context)


def template_names(source: str) -> set[str]:
    """Top-level variable names a template refers to (for the validator's warnings)."""
    from jinja2 import meta

    return set(meta.find_undeclared_variables(_strict_env.parse(source)))


__all__ = ["RenderError", "TemplateLimitError", "compile_expression", "compile_text", "render",
           "template_names"]
