"""Reading the pages Parley serves: which scripts and inline event handlers a page has."""

from __future__ import annotations

from html.parser import HTMLParser


class _Scripts(HTMLParser):
    """Collects script tags and any inline event handler attributes of a page."""

    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        self.handlers += [f"{tag}.{name}" for name in attributes if name.startswith("on")]


def parse(html: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(html)
    return parser
