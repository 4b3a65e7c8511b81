"""Reading the system of record for dynamic choices and lookups.

Imports engine.store, engine.templates and engine.outbound.

A "sqlite" source reads the local record tables through the store; with `"scope":
"linked_user"` the engine itself keeps the rows to the conversation's linked user (a guest gets
none), whatever its `where` says. An "http" source GETs a JSON endpoint through the outbound
policy (engine/outbound.py); because the engine runs inside the message's write transaction, it
never does the HTTP call itself: it raises FetchRequired and the caller fetches outside the
transaction (`fetch_json`), then runs the message again with the answer. Every value put into
an http source's URL is percent-encoded (`render_url`), so an answer cannot change its path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from engine import templates
from engine.errors import (
    DataSourceError,
    FetchRequired,
    OutboundRefused,
    OutboundUnavailable,
    StoreError,
)
from engine.outbound import OutboundPolicy
from engine.store import Store
from engine.templates import render

log = logging.getLogger(__name__)

FAILED = {"__failed__": True}
LINKED_USER = "linked_user"
# The column of each record table that names the row's owner, and the user's field it holds.
OWNER_COLUMNS = {"cases": ("opened_by", "user_name"), "users": ("id", "id")}


def read_items(store: Store, spec: dict, context: dict, *, fetched: dict[str, Any],
               user: Mapping[str, Any] | None = None) -> list[dict]:
    """The items a data source yields in `context`; [] when it has none or failed.

    `user` is the conversation's linked user (None for a guest), for scoped sources.
    """
    limit = int(spec.get("limit", 50))
    if spec["kind"] == "sqlite":
        where = {column: render(template, context)
                 for column, template in spec.get("where", {}).items()}
        if spec.get("scope") == LINKED_USER:
            if user is None:
                return []  # a guest owns no rows
            column, key = OWNER_COLUMNS[spec["table"]]
            if column in where and str(where[column]) != str(user[key]):
                return []  # the author's filter asks for someone else's rows
            where[column] = user[key]
        try:
            return store.query_records(spec["table"], where=where,
                                       order_by=spec.get("order_by"), limit=limit)
        except StoreError as exc:
            raise DataSourceError(str(exc)) from exc
    url = render_url(spec["url"], context)
    if url not in fetched:
        raise FetchRequired(url, url, float(spec.get("timeout_seconds", 5)))
    answer = fetched[url]
    if answer is FAILED or answer == FAILED:
        return []
    items = answer
    for part in filter(None, spec.get("items", "").split(".")):
        items = items.get(part) if isinstance(items, dict) else None
    if not isinstance(items, list):
        return []
    return [item if isinstance(item, dict) else {"value": item} for item in items[:limit]]


# -- URL templates ----------------------------------------------------------------------------

def quote_value(value: Any) -> str:
    """A value as one path segment or query value: every reserved character encoded.

    "." and ".." alone would still be dot segments a server resolves: their dots are encoded.
    """
    text = "" if value is None else str(value)
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


# The templates' own sandbox (and whatever limits it sets), with each printed value encoded.
# `finalize` runs on every {{ }} output, Markup from |safe included, so there is no opting out;
# the literal text the author wrote is left as it is.
_url_env = templates.overlay(finalize=quote_value)


@lru_cache(maxsize=2048)
def compile_url(source: str) -> Callable[[Mapping[str, Any]], str]:
    """A renderer for an http source's URL template."""
    if "{" not in source:
        return lambda _context, _text=source: _text
    template = _url_env.from_string(source)

    def render_it(context: Mapping[str, Any]) -> str:
        return templates.render_bounded(template, context, source=source, kind="url template")

    return render_it


def render_url(source: str, context: Mapping[str, Any]) -> str:
    """Render a URL template; each value becomes a percent-encoded segment or query value."""
    return compile_url(source)(context)


# -- Fetching ---------------------------------------------------------------------------------

def fetch_json(url: str, *, timeout: float, policy: OutboundPolicy | None = None) -> Any:
    """GET a JSON document within `policy`, or FAILED; never raises on the network.

    Without a policy nothing is allowed (an empty allow-list): every fetch is refused.
    """
    policy = (policy or OutboundPolicy()).with_time(timeout)
    try:
        fetched = policy.get(url, headers={"Accept": "application/json"})
        if fetched.status != 200:
            raise OutboundUnavailable(f"{url} answered {fetched.status}")
        return json.loads(fetched.body)
    except OutboundRefused as exc:
        log.warning("data source %s refused: %s", url, exc)
    except (OutboundUnavailable, ValueError) as exc:
        log.warning("data source %s failed: %s", url, exc)
    return FAILED
