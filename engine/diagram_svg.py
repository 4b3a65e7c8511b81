"""Graphviz's SVG trimmed for a browser: the same drawing in about half the bytes.

`dot` writes, for every node and arrow, a comment and a `<title>` repeating its name, the
font family and size on every text, the default `text-anchor="start"`, and "-" as `&#45;`
(needed only inside comments). On a 1,000-node topic that is a megabyte the designer sends
and the browser parses on every redraw. `compact_svg` drops the comments and titles, writes
the common font once on the drawing's top group (SVG text inherits it) and "-" as itself.
Everything a page reads stays: element ids and classes, shapes, texts, and tooltips
(`xlink:title` on the links Graphviz draws for nodes with a tooltip).

Imports only the standard library.
"""

from __future__ import annotations

import re

# Comments (one line each, "-" escaped inside, except the file's header) and titles (text,
# "<" escaped): neither can hold the end marker before its real end.
_NOISE = re.compile(r"<!--.*?-->\n?|<title>[^<]*</title>\n", re.DOTALL)
_FONT_FAMILY = re.compile(r' font-family="([^"]*)"')
_TOP_GROUP = '<g id="graph0" class="graph"'


def compact_svg(svg: str, *, font_size: str = "10.00") -> str:
    """`svg` (from dot or neato) without what a browser does not need; texts of `font_size`
    (the nodes' size) and of the most common font family get them from the top group."""
    if _TOP_GROUP not in svg:
        return svg  # not a drawing of ours: leave it
    svg = _NOISE.sub("", svg)
    svg = svg.replace("&#45;", "-").replace(' text-anchor="start"', "")
    inherited = f' font-size="{float(font_size):g}"'
    families = set(_FONT_FAMILY.findall(svg, 0, 20000))
    if len(families) == 1:
        family = families.pop()
        if svg.count(f' font-family="{family}"') == svg.count(" font-family="):
            svg = svg.replace(f' font-family="{family}"', "")
            inherited += f' font-family="{family}"'
    svg = svg.replace(f' font-size="{font_size}"', "")
    return svg.replace(_TOP_GROUP, _TOP_GROUP + inherited, 1)
