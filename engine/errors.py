"""Parley's one exception hierarchy. Imports nothing from the project.

Every error a user can cause says what to fix; topic errors carry the JSON path they concern.
"""

from __future__ import annotations

from dataclasses import dataclass


class ParleyError(Exception):
    """Base of every error Parley raises on purpose."""


class ConfigError(ParleyError):
    """The configuration is missing a value or holds a wrong one."""


@dataclass(frozen=True)
class Problem:
    """One finding about a topic or transcript document."""

    path: str  # JSON path, e.g. "$.nodes[3].next"
    message: str
    severity: str = "error"  # "error" or "warning"
    node: str | None = None  # id of the node concerned, when there is one

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SealingError(ConfigError):
    """A sealed value cannot be opened with the data keys configured (PARLEY_DATA_KEY)."""


class TopicError(ParleyError):
    """A topic document is not valid; `problems` lists every error with its JSON path."""

    def __init__(self, problems: list[Problem], *, source: str | None = None):
        self.problems = [p for p in problems if p.severity == "error"]
        self.source = source
        where = f"{source}: " if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{where}{len(self.problems)} error(s) in topic\n{lines}")


class TopicNotFound(ParleyError):
    """No topic (or version of it) with that id is stored."""


class TranscriptError(ParleyError):
    """A transcript file is malformed."""


class StoreError(ParleyError):
    """The database could not do what was asked."""


class TransientStoreError(StoreError):
    """The database connection was lost, or the transaction lost a serialization or deadlock
    conflict, before COMMIT: nothing was stored, and running the whole transaction again (on a
    fresh connection) may succeed."""


class CommitUnknown(TransientStoreError):
    """The connection was lost while COMMIT ran: the transaction may or may not be stored, so
    run it again only when a second run cannot apply it twice (e.g. a claimed MessageSid)."""


class DuplicateError(StoreError):
    """A row with the same unique value exists already (a user name, an agent...)."""


class CopyRefused(StoreError):
    """A database copy that would overwrite or lose data; nothing was written."""


class AccountError(ParleyError):
    """An account cannot be set up as asked (an unknown user, a malformed PIN or number)."""


class DataSourceError(ParleyError):
    """A data source (local table or HTTP endpoint) failed to answer."""


class DiagramError(ParleyError):
    """A topic diagram could not be drawn (Graphviz missing or failing)."""


class OutsideWork(ParleyError):
    """Slow work (a PIN's scrypt hash) the engine needs done outside the write transaction.

    Like FetchRequired: the caller rolls back, runs `compute()` with no lock held, and runs the
    message again with the result under `key`, so one slow check never stalls every SMS.
    """

    def __init__(self, key: str, compute):
        self.key, self.compute = key, compute
        super().__init__(f"compute {key.split(':', 1)[0]} outside the transaction")


class FetchRequired(ParleyError):
    """The engine needs an HTTP data source fetched outside the write transaction.

    The caller rolls back, fetches with `Engine.fetch`, and runs the message again with the
    result, so the database write lock is never held during an HTTP call.
    """

    def __init__(self, key: str, url: str, timeout: float):
        self.key, self.url, self.timeout = key, url, timeout
        super().__init__(f"fetch {url}")


class OutboundRefused(ParleyError):
    """A URL or answer the outbound policy refuses (host, scheme, address, size): never retried."""


class OutboundUnavailable(ParleyError):
    """An outbound request that failed for a reason that may pass (network, 5xx, time)."""


class InsightError(ParleyError):
    """A request for Insight figures that cannot be answered (a bad date, an unknown filter)."""


class NotificationError(ParleyError):
    """A notification cannot be sent as asked (unknown template, missing variable, no
    recipients); the message says what to fix."""
