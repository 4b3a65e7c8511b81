"""Group commit: the messages a process handles at the same moment share one COMMIT.

Imports engine.store only. Every inbound SMS is one durable transaction, and with SQLite the
durable part (the fsync of COMMIT) happens while the database's single write lock is held:
under load it was the largest share of the time a message kept every other one waiting
(bench/README.md). A `CommitGroup` lets the threads of one process share that cost. Each
thread hands its piece of work to the group; one of them, the leader, opens the write
transaction, then runs every piece queued by then, each in its own savepoint, and commits
once. A piece that fails is rolled back alone and its exception goes back to its own thread;
a failed COMMIT fails every piece of the group, so nothing is ever answered that was not
stored. With nothing else waiting a piece runs alone, exactly as a plain `Store.write()`.
On PostgreSQL, which has no single write lock to share, every piece is its own transaction.

The leader runs the others' work on its own engine and connection, so a piece must get
everything it needs through the engine it is given, never from its thread (no Flask `request`
or `g` in it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from engine.errors import StoreError

if TYPE_CHECKING:
    from engine.conversation import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[["Engine"], T]

MAX_GROUP = 64  # pieces in one transaction: bounds how long one COMMIT keeps the lock


class SoloCommits:
    """Each piece of work in its own transaction: for one-thread users (CLI, tests)."""

    def run(self, engine: Engine, work: Work[T]) -> T:
        with engine.store.write():
            return work(engine)


class _Piece(Generic[T]):
    __slots__ = ("work", "done", "lead", "result", "error")

    def __init__(self, work: Work[T]):
        self.work = work
        self.done = threading.Event()
        self.lead = False  # set when this piece's thread is to lead the next group
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result


class CommitGroup:
    """One per process and database: the threads of a threaded server share its commits."""

    def __init__(self, *, max_group: int = MAX_GROUP):
        self.max_group = max_group
        self._mutex = threading.Lock()
        self._queue: deque[_Piece] = deque()
        self._leading = False  # some thread is running a group (or about to)
        self.groups = 0  # statistics, for the benchmark and the tests
        self.pieces = 0

    @property
    def waiting(self) -> int:
        """Pieces queued for the next group."""
        with self._mutex:
            return len(self._queue)

    def run(self, engine: Engine, work: Work[T]) -> T:
        """Run `work(engine)` in a write transaction, possibly with other threads' work."""
        if not engine.store.sequential_writes:
            # PostgreSQL: transactions run side by side, and one waiting on another phone's
            # lock must not hold back a whole group. Each piece commits on its own.
            with engine.store.write():
                return work(engine)
        piece = _Piece(work)
        with self._mutex:
            self._queue.append(piece)
            if not self._leading:
                self._leading = piece.lead = True
        if not piece.lead:
            piece.done.wait()
            if not piece.lead:
                return piece.outcome()
            # Promoted: the previous leader left this piece first in the queue for us.
        self._lead(engine, piece)
        return piece.outcome()

    def _lead(self, engine: Engine, own: _Piece) -> None:
        group: list[_Piece] = []
        try:
            with engine.store.write() as store:
                # Taken only once the lock is ours: whatever queued while we waited for it
                # rides along in this transaction. Our own piece is first in the queue.
                with self._mutex:
                    while self._queue and len(group) < self.max_group:
                        group.append(self._queue.popleft())
                for piece in group:
                    try:
                        with store.savepoint():
                            piece.result = piece.work(engine)
                    except Exception as exc:  # noqa: BLE001 - raised again in its own thread
                        piece.error = exc
        except BaseException as exc:
            # Nothing of this group was stored: every piece fails (a piece that failed on
            # its own keeps its own error, e.g. a data source to fetch before trying again).
            if not group:
                with self._mutex:
                    self._queue.remove(own)
                group = [own]
            log.error("a group of %d transaction(s) could not commit: %r", len(group), exc)
            failure = exc if isinstance(exc, StoreError) else StoreError(
                f"the transaction was abandoned: {exc!r}")
            for piece in group:
                piece.result = None
                piece.error = piece.error or failure
            self._hand_over(group)
            if not isinstance(exc, Exception):
                raise
            return
        self.groups += 1
        self.pieces += len(group)
        self._hand_over(group)

    def _hand_over(self, group: list[_Piece]) -> None:
        """Wake the group's threads, and let the first waiting thread lead the next group."""
        with self._mutex:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._leading = False
        for piece in group:
            if not piece.lead:
                piece.done.set()
