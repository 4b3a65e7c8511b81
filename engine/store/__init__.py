"""The one place that talks SQL: Parley's store, on SQLite or PostgreSQL. Imports every module
of engine.store.

One interface, `Store` and `open_store`, made of one module per concern: core (connection,
transactions, settings), topics, conversations (with users, links and records), designer
(transcripts), staff (authors, agents and supervisors, their roles and sessions), accounts,
runtime (inbound claims, outbox, opt-outs, statuses, media fetches, sandbox), agents (the
hand-off queue and notes), media (the photos themselves); copying moves a whole instance to
another database; what differs between the two databases is in backends, the schema in
migrations (SQLite) and postgres_schema, shared helpers in values, and bulk history for
benchmarks in bulk (with Insight's rows in bulk_insight).
No SQL outside this package.
"""

from engine.store.backends import database_errors, is_postgres
from engine.store.bulk import add_bulk_history
from engine.store.core import Store, WriterQueue, open_store
from engine.store.migrations import migrations
from engine.store.runtime import DELIVERY_RANK, OPTED_OUT_CODE
from engine.store.values import (
    RECORD_TABLES,
    USER_PUBLIC_COLUMNS,
    ConversationRow,
    dumps,
    lockout_digest,
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
    "database_errors",
    "dumps",
    "is_postgres",
    "lockout_digest",
    "migrations",
    "open_store",
    "parse_iso",
    "utc_iso",
]
