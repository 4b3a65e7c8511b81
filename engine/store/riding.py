"""Writes that wait for the conversation's UPDATE later in the same transaction, so that what
rides along (Insight's path, outcome and counters) costs no statement or round trip of its
own. Imports nothing of Parley.
"""

from __future__ import annotations

from typing import Any


class RidingWrites:
    """Methods of Store (engine/store/core.py): they use its `conn`, `sequential_writes` and
    `_require_write()`, and its `_deferred` and `_riders`, which `Store.write()` empties
    when a transaction begins and `Store.savepoint()` restores when a part fails. Whatever is
    left when the transaction commits is written then (`_flush_deferred`)."""

    _deferred: dict[int, list[tuple[str, tuple]]]
    _riders: list[tuple[str, tuple]]

    def defer(self, conversation_id: int, clause: str, *params: Any) -> None:
        """Add `clause` (e.g. "outcome = ?") to the UPDATE that saves or closes the
        conversation later in this transaction, instead of an UPDATE of its own. Whatever
        no UPDATE took is written before COMMIT, so nothing deferred is ever lost."""
        self._require_write()
        self._deferred.setdefault(conversation_id, []).append((clause, params))

    def ride(self, sql: str, params: tuple | list = ()) -> None:
        """Run a write that needs no answer (an INSERT ... ON CONFLICT) with the next
        conversation UPDATE of this transaction: on PostgreSQL in the same statement, as a
        data-modifying WITH, so it costs no round trip of its own; on SQLite, where a
        statement is a C call, at once."""
        self._require_write()
        if self.sequential_writes:
            self.conn.execute(sql, params)
        else:
            self._riders.append((sql, tuple(params)))

    def _deferred_sets(self, conversation_id: int) -> tuple[str, tuple]:
        """The deferred SET clauses of a conversation (taken: written by the caller's UPDATE),
        as text to append to its SET list and their parameters."""
        sets = self._deferred.pop(conversation_id, None)
        if not sets:
            return "", ()
        return ("".join(f", {clause}" for clause, _params in sets),
                tuple(value for _clause, params in sets for value in params))

    def _execute_riding(self, sql: str, params: tuple | list) -> Any:
        """Run `sql` with the writes waiting to ride (`ride`) in front of it."""
        if not self._riders:
            return self.conn.execute(sql, params)
        riders, self._riders = self._riders, []
        prefix = ", ".join(f"ride_{n} AS ({rider})" for n, (rider, _p) in enumerate(riders))
        values = [value for _rider, rider_params in riders for value in rider_params]
        return self.conn.execute(f"WITH {prefix} {sql}", (*values, *params))

    def _flush_deferred(self) -> None:
        """Write what is still deferred or riding, each on its own."""
        riders, self._riders = self._riders, []
        for sql, params in riders:
            self.conn.execute(sql, params)
        for conversation_id in list(self._deferred):
            extra, params = self._deferred_sets(conversation_id)
            self.conn.execute(f"UPDATE conversations SET {extra.removeprefix(', ')}"
                              " WHERE id = ?", (*params, conversation_id))
