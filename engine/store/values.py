"""How Parley's values are stored: timestamps, canonical JSON, row types. Imports no store module.

No SQL here: these helpers are shared by every concern of the store and by its migrations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

# Tables a topic may read through a "sqlite" data source: the local stand-in for the system of
# record. Anything else (conversations, messages...) is never reachable from a topic.
RECORD_TABLES = ("cases", "users")
USER_PUBLIC_COLUMNS = ("id", "user_name", "display_name", "email", "mobile")


def utc_iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def lockout_digest(key: str) -> str:
    """What auth_lockouts keeps of a counter's name: its SHA-256, never the text itself."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def dumps(value: Any) -> str:
    """Canonical JSON for storage: stable key order, no ASCII escaping, compact."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass
class ConversationRow:
    id: int
    phone: str
    user_id: int | None
    state: dict
    started_at: str
    updated_at: str
    rev: int
    # Insight's view of it (engine/insight.py), read with the row so recording reads nothing.
    outcome: str | None = None
    resolution_seconds: int | None = None
