"""Reading the system of record for dynamic choices and lookups. Imports engine.store/templates.

A "sqlite" source reads the local record tables through the store. An "http" source GETs a
JSON endpoint; because the engine runs inside the message's write transaction, it never does
the HTTP call itself: it raises FetchRequired and the caller fetches outside the transaction
(`fetch_json`), then runs the message again with the answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from engine.errors import DataSourceError, FetchRequired, StoreError
from engine.store import Store
from engine.templates import render

MAX_HTTP_BYTES = 1_000_000
FAILED = {"__failed__": True}


def read_items(store: Store, spec: dict, context: dict, *, fetched: dict[str, Any]) -> list[dict]:
    """The items a data source yields in `context`; [] when it has none or failed."""
    limit = int(spec.get("limit", 50))
    if spec["kind"] == "sqlite":
        where = {column: render(template, context)
                 for column, template in spec.get("where", {}).items()}
        try:
            return store.query_records(spec["table"], where=where,
                                       order_by=spec.get("order_by"), limit=limit)
        except StoreError as exc:
            raise DataSourceError(str(exc)) from exc
    url = render(spec["url"], context)
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


def fetch_json(url: str, *, timeout: float) -> Any:
    """GET a JSON document, or FAILED. Only http(s); size-capped; never raises on the network."""
    if not url.startswith(("http://", "https://")):
        return FAILED
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_HTTP_BYTES + 1)
        if len(body) > MAX_HTTP_BYTES:
            return FAILED
        return json.loads(body)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        return FAILED
