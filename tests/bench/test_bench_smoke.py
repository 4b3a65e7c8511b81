"""The benchmark's machinery on a minimal setting: every row printed, every server stopped.

No timing assertions: the figures of a run this short mean nothing, and the machines are
shared. What is checked is what a newcomer running `python -m bench` relies on.
"""

from __future__ import annotations

import os

from bench.servers import runtime_serving, textbook_serving
from engine.store import add_bulk_history, open_store, parse_iso, utc_iso

MINIMAL = ["--rounds", "1", "--seconds", "0.5", "--workers", "2", "--threads", "2",
           "--history", "300",
           "--engine-phones", "3", "--recording-phones", "3", "--sender-messages", "3",
           "--designer-nodes", "30", "--editor-nodes", "40", "--open-nodes", "60",
           "--insight-conversations", "300", "--insight-rounds", "1",
           "--push-messages", "2"]

ROWS = (
    "Webhook throughput at saturation",
    "The floor under each setting (the best is the reference)",
    "Latency p50 / p95 / p99 at 50% of saturation",
    "Engine per message, 10-node topic",
    "Engine per message, 100-node topic",
    "Engine per message, 1,000-node topic",
    "Engine per message, 5,000-node topic",
    "Webhook throughput, 300 conversations stored",
    "Sender (one worker) through twilio to Prism",
    "Sender with pacing's accounting (budgets, quiet hours)",
    "Designer: validate a 30-node topic",
    "Designer: draw a 30-node topic (SVG)",
    "Editor, 40-node topic: one edit → validation result",
    "Editor, 40-node topic: one edit → redrawn diagram (a text changed)",
    "Editor, 40-node topic: one edit → redrawn diagram (a new transition)",
    "Editor, 60-node topic: open (its drawing kept)",
    "Editor, 60-node topic: open, first ever (whole view)",
    "Peak RSS of a runtime worker after the load",
    # Insight recording, on against off, both databases.
    *(f"{figure}, {database}"
      for figure in ("Insight recording, webhook per request", "Insight recording, engine per"
                     " message", "SQL statements per request, webhook",
                     "SQL statements per message, engine")
      for database in ("SQLite", "PostgreSQL")),
    # PostgreSQL beside SQLite, in the same run.
    "Webhook throughput on PostgreSQL, one node",
    "Latency p50 / p95 / p99 at 50% of saturation, PostgreSQL",
    f"Webhook throughput on PostgreSQL, 2 nodes on {os.cpu_count()} cores",
    "Webhook throughput on PostgreSQL, 300 conversations stored",
    "Server CPU per request at saturation, PostgreSQL one node",
    "Server CPU per request at saturation, PostgreSQL 2 nodes",
    "Server CPU per request on PostgreSQL, 300 conversations stored",
    "Rows of conversations, messages, claims read by sequential scans in that load "
    "(300 stored)",
    "Outbox on PostgreSQL drained by 1 sender (`parley worker`) to Prism",
    "Outbox on PostgreSQL drained by 2 senders (`parley worker`) to Prism",
    "Outbox on PostgreSQL drained by 4 senders (`parley worker`) to Prism",
    "What limits 4 senders (CPU per message)",
    # Insight's pages and exports on both databases.
    "Insight: Overview, 90 days",
    "Insight: Topic, two versions side by side, 30 days",
    "Insight: Conversations by phone",
    "Insight: A conversation with its path",
    "Insight: API: conversations, page 20 (JSON)",
    "Insight: CSV: overview, 90 days",
    "Agent push: inbound SMS to its text on 20 agents' streams, SQLite (p50 / p95)",
    "Agent push: inbound SMS to its text on 20 agents' streams, PostgreSQL (p50 / p95)",
)


class TestMinimalRun:
    def test_prints_every_row_and_writes_the_plot(self, tmp_path, capsys):
        from bench.run import main

        results = main([*MINIMAL, "--work-dir", str(tmp_path / "work"),
                        "--output", str(tmp_path / "out")])

        assert results.failures == []
        printed = capsys.readouterr().out
        for row in ROWS:
            assert f"| {row} |" in printed, row
        assert (tmp_path / "out" / "results.md").read_text(encoding="utf-8") in printed
        assert (tmp_path / "out" / "bench.png").read_bytes().startswith(b"\x89PNG")
        web = results.webhook
        pg = web.postgres
        targets = [*web.floors, *web.history.values(), *pg.targets]
        # Parley as asked; the floor both that way and with textbook sync workers.
        assert str(web.serving) == "2 gthread workers x 2 threads"
        assert {str(t.server.serving) for t in web.floors} == {
            "2 gthread workers x 2 threads", str(textbook_serving())}
        assert web.floor.best_rate == max(t.best_rate for t in web.floors)
        # Every request was answered 200, and every round sent some.
        assert all(t.errors == 0 for t in targets)
        assert all(r.ok for t in targets for r in t.saturation)
        assert web.parley.paced and web.floor.paced
        # The floor answered TwiML the size of Parley's answers (within one message's markup).
        assert abs(web.floor_reply_bytes - web.parley_reply_bytes) < 100
        assert results.sender.failed == 0
        # PostgreSQL: two nodes took the load of one target, spread over both; each sender
        # count drained its round; the PostgreSQL server is stopped.
        assert len(pg.nodes.urls) == 2 and len(set(pg.nodes.urls)) == 2
        assert all(n.proc is None for n in pg.nodes.nodes)
        assert pg.server.folder is None
        assert results.senders.failed == 0
        assert {d.senders for d in results.senders.drains} == {1, 2, 4}
        assert results.designer.problems == 0
        # Every Insight page answered 200 on both databases.
        assert set(results.insight.databases) == {"SQLite", "PostgreSQL"}
        assert all(not d.failures for d in results.insight.databases.values())
        # Every server was stopped.
        assert all(t.server.proc is None for t in targets)
        assert "PostgreSQL" in printed and "durable" in printed


class TestServing:
    def test_parley_is_benchmarked_as_gunicorn_conf_serves_it(self, monkeypatch):
        monkeypatch.setenv("PARLEY_WORKERS", "11")  # an operator's override is not the default
        serving = runtime_serving()
        assert serving.threads > 1 and 1 <= serving.workers <= 8
        assert str(serving).endswith(f"gthread workers x {serving.threads} threads")


class TestBulkHistory:
    def test_closed_conversations_with_their_messages_and_claims(self, database_url):
        store = open_store(database_url)
        try:
            add_bulk_history(store, conversations=120, batch=50)
            conn = store.conn
            assert conn.execute("SELECT count(*) FROM conversations"
                                " WHERE closed_at IS NOT NULL").fetchone()[0] == 120
            assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1200
            assert conn.execute("SELECT count(*) FROM inbound_claims").fetchone()[0] == 600
            # A quarter as many phones as conversations, none of the load generator's.
            phones = {r[0] for r in conn.execute("SELECT phone FROM conversations")}
            assert len(phones) == 30
            assert all(p.startswith("+1444") and len(p) == 12 for p in phones)
            # Each stored reply names the bot message that answered the user's.
            reply, answer = conn.execute(
                "SELECT c.reply, m.body FROM inbound_claims c"
                " JOIN messages m ON m.id = (SELECT id FROM messages WHERE sid = c.sid) + 1"
                " LIMIT 1").fetchone()
            assert answer in reply
            # Nothing open: the webhook finds no conversation for these phones.
            assert store.open_conversation(next(iter(phones))) is None
            # The same rows on both databases: dates as the store writes them, sids as
            # Twilio's, one claim per message of the user's.
            first = conn.execute("SELECT * FROM messages ORDER BY id LIMIT 1").fetchone()
            assert utc_iso(parse_iso(first["created_at"])) == first["created_at"]
            assert first["sid"] == f"SMfe{first['id']:030x}"
            assert conn.execute("SELECT count(*) FROM inbound_claims c JOIN messages m"
                                " ON m.sid = c.sid WHERE m.direction = 'in'"
                                " AND m.conversation_id = c.conversation_id"
                                ).fetchone()[0] == 600
            # The runtime's next rows get fresh ids after the bulk ones.
            with store.write():
                conversation = store.start_conversation("+15550009999", user_id=None,
                                                        state={"mode": "bot"})
            assert conversation.id == 121
        finally:
            store.close()
