"""What recording costs in SQL statements, counted per message on both databases: it reads
nothing, and it writes in a fixed number of statements however many nodes a message runs
(on PostgreSQL in none of its own: it rides on the UPDATE that saves the conversation).
Counting statements is exact where timing is not; `python -m bench.insight_cost` prints the
same counts beside the times."""

from __future__ import annotations

import pytest

from bench.statements import counting
from engine.assembly import standard_interceptors
from engine.conversation import Engine, EngineSettings
from engine.insight import NullRecorder, Recorder
from engine.messages import Inbound
from engine.store import open_store
from engine.store.values import dumps
from tests.insight.conftest import ORDER_V1, SECRETS, publish

# One answer runs twelve nodes: eleven texts and the end.
LONG = {
    "id": "long",
    "name": "Long",
    "version": 1,
    "discovery": {"keywords": ["long"]},
    "variables": {"name": {"type": "string"}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Name?", "var": "name", "next": "say_0"},
        *[{"id": f"say_{n}", "type": "response.text", "text": f"Line {n}.",
           "next": f"say_{n + 1}" if n < 10 else "end"} for n in range(11)],
        {"id": "end", "type": "flow.end", "ask_anything_else": False},
    ],
}

# (text, what the message adds besides counters: topics started, unanswered texts)
SCRIPT = (
    ("order", 1),  # starts the order topic
    ("1", 0),
    (SECRETS[0], 0),  # ends it: the outcome rides on the conversation's UPDATE
    ("long", 1),
    ("Ada", 0),  # twelve nodes in one message
    ("zebra crossing", 1),  # matches no topic: an unanswered text (and the menu)
)


def statements(store, recorder, phone: str) -> list[list[str]]:
    """The statements of each message of SCRIPT from `phone`."""
    engine = Engine(store, interceptors=standard_interceptors(),
                    settings=EngineSettings(idle_timeout_minutes=30), recorder=recorder)
    out = []
    for text, _extra in SCRIPT:
        store.clock.advance(seconds=10)
        with counting(store) as seen:
            engine.process(Inbound(phone, text))
        out.append(list(seen))
    return out


@pytest.fixture
def counted(store):
    publish(store, ORDER_V1)
    publish(store, LONG)
    return (statements(store, Recorder(), "+15550100051"),
            statements(store, NullRecorder(), "+15550100052"))


def reads(seen: list[str]) -> int:
    return sum(sql.lstrip().upper().startswith("SELECT") for sql in seen)


class TestStatementsPerMessage:
    def test_recording_reads_nothing(self, counted):
        on, off = counted
        assert [reads(s) for s in on] == [reads(s) for s in off]

    def test_recording_writes_a_fixed_number_of_statements(self, store, counted):
        on, off = counted
        extra = [len(a) - len(b) for a, b in zip(on, off, strict=True)]
        if store.is_postgres:
            # What the message adds to the figures rides on the conversation's UPDATE.
            assert extra == [0] * len(SCRIPT)
        else:
            # One row of insight_pending, whatever kinds of figures the message adds to.
            assert extra == [1] * len(SCRIPT)

    def test_many_nodes_in_one_message_cost_no_more_statements(self, counted):
        on, off = counted
        one_node, twelve = len(on[1]) - len(off[1]), len(on[4]) - len(off[4])
        assert twelve == one_node

    def test_what_rode_on_the_update_was_written(self, store, counted):
        """The path and outcome deferred to the UPDATE are in the database afterwards."""
        first = store.search_conversations(phone="+15550100051")[-1]
        assert first["outcome"] == "completed" and first["resolution_seconds"] == 20
        paths = store.conversation_paths(first["id"])
        assert [node for path in paths for node in path["steps"]["nodes"]] == [
            "kind", "pin", "done"]
        assert [path["turn"] for path in paths] == [0, 1, 2]


class TestDeferredWrites:
    def test_a_deferred_clause_that_no_update_took_is_written_before_commit(self, store):
        conversation_id = _conversation(store, "+15550100053")
        with store.write():
            store.defer_conversation_outcome(conversation_id, outcome="completed",
                                             handoff_reason=None, resolution_seconds=12)
        row = store.conversation(conversation_id)
        assert (row["outcome"], row["resolution_seconds"]) == ("completed", 12)

    def test_deferred_writes_roll_back_with_their_savepoint(self, store):
        conversation_id = _conversation(store, "+15550100054")
        with store.write():
            with pytest.raises(RuntimeError), store.savepoint():
                store.defer_insight_path(conversation_id, '[0,0,"x",1,{}]\n')
                store.ride("INSERT INTO insight_unanswered (day, text, n) VALUES (?, ?, 1)",
                           ("2026-03-02", "rolled back"))
                raise RuntimeError("this part fails")
        assert store.conversation(conversation_id)["insight_path"] is None
        assert store.insight_unanswered("2026-03-02", "2026-03-02") == []


def _conversation(store, phone: str) -> int:
    with store.conversation_write(phone):
        return store.start_conversation(phone, user_id=None, state={"mode": "idle"}).id


class TestPathsRecordedBeforeTheColumn:
    def test_m0013_moves_insight_paths_rows_onto_their_conversations(self, database_url):
        """A database from before m0013: its insight_paths rows become the conversation's
        insight_path lines, read back in turn order, and the table is gone."""
        store = open_store(database_url)
        conversation_id = _conversation(store, "+15550100055")
        legacy = [(1, 0, "order", 2, {"nodes": ["pin"], "edges": [], "outcomes": []}),
                  (0, 0, "order", 2, {"nodes": ["kind"], "edges": [["kind", "option_0"]],
                                      "outcomes": []})]
        with store.write():  # back to how m0009 left it
            store.conn.execute("ALTER TABLE conversations DROP COLUMN insight_path")
            store.conn.execute(
                "CREATE TABLE insight_paths (conversation_id BIGINT NOT NULL, turn INTEGER NOT"
                " NULL, part INTEGER NOT NULL, topic_id TEXT NOT NULL, version INTEGER NOT"
                " NULL, steps TEXT NOT NULL, PRIMARY KEY (conversation_id, turn, part))")
            for turn, part, topic_id, version, steps in legacy:
                store.conn.execute(
                    "INSERT INTO insight_paths VALUES (?, ?, ?, ?, ?, ?)",
                    (conversation_id, turn, part, topic_id, version, dumps(steps)))
            store.conn.execute(f"DELETE FROM {store.backend.migrations_table}"
                               " WHERE name = 'm0013_insight_path'")
        assert store.migrate() == ["m0013_insight_path"]
        assert store.conversation_paths(conversation_id) == [
            {"turn": turn, "topic_id": topic_id, "version": version, "steps": steps}
            for turn, _part, topic_id, version, steps in sorted(legacy, key=lambda p: p[0])]
        with pytest.raises(store.backend.errors):
            store.conn.execute("SELECT 1 FROM insight_paths")
        store.close()
