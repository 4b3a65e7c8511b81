"""Parley's SQLite store, as a package. Imports engine.store.core, which holds all of it for now."""

from engine.store.core import (
    DELIVERY_RANK,
    OPTED_OUT_CODE,
    RECORD_TABLES,
    USER_PUBLIC_COLUMNS,
    ConversationRow,
    Store,
    WriterQueue,
    add_bulk_history,
    dumps,
    lockout_digest,
    migrations,
    open_store,
    parse_iso,
    utc_iso,
)

__all__ = [
    "DELIVERY_RANK",
    "OPTED_OUT_CODE",
    "RECORD_TABLES",
    "USER_PUBLIC_COLUMNS",
    "ConversationRow",
    "Store",
    "WriterQueue",
    "add_bulk_history",
    "dumps",
    "lockout_digest",
    "migrations",
    "open_store",
    "parse_iso",
    "utc_iso",
]
