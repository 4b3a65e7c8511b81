"""The runtime's database connections: pooled on PostgreSQL, and what a lost connection does.

A lost connection or a conflict before COMMIT is run again on a fresh pooled connection; when
it keeps failing Twilio gets 503 with Retry-After and sends the message again. Either way the
database holds the whole message or none of it, and a MessageSid gets exactly one answer.
The tests that end server connections (pg_terminate_backend) or make PostgreSQL detect a
deadlock are PostgreSQL only by nature; a request that leaves a transaction open is tested on
both databases.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from engine.errors import ConfigError, TransientStoreError
from engine.sealing import ENV, new_key
from engine.store import Store
from engine.store.pool import STREAM_POOL_SIZE, close_pools, pool_size, stream_pool_size
from tests.webhook.conftest import (
    Twilio,
    bodies,
    count,
    load_examples,
    new_sid,
    on_postgres,
    runtime_config,
)
from webhook import create_app, get_runtime
from webhook.db import get_db, open_runtime_store

PHONE = "+15550100031"
MENU = "What can I help you with?"


def answered(response) -> bool:
    """A 200 TwiML answer with the bot's menu (the greeting's or MENU's)."""
    return any(body.startswith(MENU) for body in bodies(response))


@pytest.fixture
def pg_url(postgres, postgres_template, monkeypatch):
    """A migrated PostgreSQL database of its own (PostgreSQL only: these tests end server
    connections, which SQLite does not have)."""
    monkeypatch.setenv(ENV, new_key())
    name = f"lost_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name, template=postgres_template)
    yield url
    close_pools()
    postgres.drop_database(name)


@pytest.fixture
def pg_app(tmp_path, pg_url):
    return create_app(runtime_config(tmp_path, DATABASE=pg_url))


@pytest.fixture
def observer(pg_app):
    """A connection of the test's own, outside the runtime's pool."""
    store = Store(pg_app.config["DATABASE"])
    load_examples(store)
    yield store
    store.close()


def other_backends(store: Store) -> list[int]:
    """Server processes of this database other than the observer's own: the pool's."""
    rows = store.conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() ORDER BY pid").fetchall()
    return [r[0] for r in rows]


def terminate(store: Store, pid: int) -> None:
    """End server process `pid`, and wait (up to 5 s) until it is gone."""
    assert store.conn.execute("SELECT pg_terminate_backend(?, 5000)", (pid,)).fetchone()[0]


class KillConnection:
    """An interceptor (the engine's seam for features) that, while the phone's lock is held
    in the message's transaction, has another connection end this transaction's server
    process: the next statement finds the connection lost."""

    def __init__(self, observer: Store, *, times: int):
        self.observer, self.times, self.killed = observer, times, 0

    def intercept(self, turn) -> bool:
        if self.killed < self.times:
            self.killed += 1
            terminate(self.observer, turn.store.conn.raw.info.backend_pid)
        return False


def stored(store: Store, sid: str) -> tuple[int, int]:
    """(claims, inbound messages) stored for `sid`."""
    claims = store.conn.execute("SELECT COUNT(*) FROM inbound_claims WHERE sid = ?",
                                (sid,)).fetchone()[0]
    messages = store.conn.execute("SELECT COUNT(*) FROM messages WHERE sid = ?",
                                  (sid,)).fetchone()[0]
    return claims, messages


class TestLostConnections:
    def test_terminated_connections_between_requests_are_replaced(self, pg_app, observer):
        twilio = Twilio(pg_app.test_client())
        assert answered(twilio.text(PHONE, "hello"))
        pooled = other_backends(observer)
        assert pooled  # the pool kept the request's connection open
        for pid in pooled:  # as a database restart or failover does
            terminate(observer, pid)
        # The health check runs its statements once, with no retry: it gets a working
        # connection because the pool checks each one it lends.
        assert twilio.client.get("/healthz").status_code == 200
        assert answered(twilio.text(PHONE, "MENU"))
        assert not set(other_backends(observer)) & set(pooled)
        assert count(observer, "inbound_claims") == 2

    def test_a_connection_lost_mid_message_is_run_again_once(self, pg_app, observer):
        kill = KillConnection(observer, times=1)
        get_runtime(pg_app).interceptors.insert(0, kill)
        twilio = Twilio(pg_app.test_client())
        params = twilio.message_params(PHONE, "hello", sid=new_sid())
        first = twilio.post("/twilio/sms", params)
        assert kill.killed == 1
        assert answered(first)
        assert stored(observer, params["MessageSid"]) == (1, 1)
        again = twilio.post("/twilio/sms", params)  # Twilio's retry of the same sid
        assert again.get_data() == first.get_data()
        assert stored(observer, params["MessageSid"]) == (1, 1)

    def test_a_connection_lost_on_every_try_answers_503_and_stores_nothing(
            self, pg_app, observer):
        kill = KillConnection(observer, times=3)  # the first try and both retries
        get_runtime(pg_app).interceptors.insert(0, kill)
        twilio = Twilio(pg_app.test_client())
        params = twilio.message_params(PHONE, "hello", sid=new_sid())
        refused = twilio.post("/twilio/sms", params)
        assert kill.killed == 3
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert b"Traceback" not in refused.get_data()
        assert stored(observer, params["MessageSid"]) == (0, 0)
        assert count(observer, "conversations") == 0
        accepted = twilio.post("/twilio/sms", params)  # Twilio sends it again
        assert answered(accepted)
        assert twilio.post("/twilio/sms", params).get_data() == accepted.get_data()
        assert stored(observer, params["MessageSid"]) == (1, 1)

    def test_a_commit_whose_outcome_is_unknown_is_run_again_for_a_message_sid(
            self, pg_app, observer):
        runtime = get_runtime(pg_app)
        pieces = runtime.commits

        class LoseTheCommit:
            """The process's commits (engine/commits.py), but the first transaction's server
            process ends just before its COMMIT: the client cannot tell whether it applied."""

            lost = 0

            def run(self, engine, work):
                with engine.store.write():
                    result = work(engine)
                    if not self.lost:
                        self.lost += 1
                        terminate(observer, engine.store.conn.raw.info.backend_pid)
                    return result

        runtime.commits = LoseTheCommit()
        twilio = Twilio(pg_app.test_client())
        params = twilio.message_params(PHONE, "hello", sid=new_sid())
        answer = twilio.post("/twilio/sms", params)
        assert runtime.commits.lost == 1
        assert answered(answer)
        assert stored(observer, params["MessageSid"]) == (1, 1)
        runtime.commits = pieces
        assert twilio.post("/twilio/sms", params).get_data() == answer.get_data()

    def test_a_status_callback_is_not_run_again_after_an_unknown_commit(
            self, pg_app, observer):
        runtime = get_runtime(pg_app)
        twilio = Twilio(pg_app.test_client())
        twilio.text(PHONE, "hello")
        message_id = observer.conn.execute(
            "SELECT id FROM messages WHERE direction = 'out' ORDER BY id").fetchone()[0]

        class LoseEveryCommit:
            def run(self, engine, work):
                with engine.store.write():
                    result = work(engine)
                    terminate(observer, engine.store.conn.raw.info.backend_pid)
                    return result

        runtime.commits = LoseEveryCommit()
        answer = twilio.status("SMstatus1", "delivered", message_id=message_id)
        assert answer.status_code == 503  # Twilio calls back again later
        assert observer.message(message_id)["status"] != "delivered"

    def test_a_deadlock_is_a_transient_error_and_nothing_is_stored(self, pg_url):
        first, second = Store(pg_url), Store(pg_url)
        failures: list[BaseException] = []
        locked = threading.Barrier(2)

        def take(store: Store, mine: str, theirs: str, key: str) -> None:
            try:
                with store.write():
                    store.lock_phone(mine)
                    store.set_setting(key, "written")
                    locked.wait(timeout=10)
                    store.lock_phone(theirs)  # each waits for the other: PostgreSQL ends one
            except TransientStoreError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=take, args=(first, "+1555", "+1666", "a")),
                   threading.Thread(target=take, args=(second, "+1666", "+1555", "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(failures) == 1
        assert "conflict" in str(failures[0])
        assert sorted(k for k in ("a", "b") if first.get_setting(k)) in (["a"], ["b"])
        with first.write():  # both connections are usable again
            first.set_setting("after", "yes")
        with second.write():
            second.set_setting("after", "again")
        first.close()
        second.close()

    def test_a_forked_process_makes_its_own_pool(self, pg_app, observer):
        twilio = Twilio(pg_app.test_client())
        assert answered(twilio.text(PHONE, "hello"))  # the parent's pool is open
        child = os.fork()
        if child == 0:  # a gunicorn worker forked from a process that served requests
            try:
                status = Twilio(pg_app.test_client()).text("+15550100032", "hello").status_code
            finally:
                os._exit(0 if status == 200 else 1)
        _pid, exit_status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(exit_status) == 0
        assert answered(twilio.text(PHONE, "MENU"))  # the child left ours alone
        assert count(observer, "inbound_claims") == 3


class TestPoolSize:
    def test_it_follows_the_threads_unless_set(self):
        assert pool_size({}) == 5
        assert pool_size({"THREADS": 8}) == 9
        assert pool_size({"THREADS": 8, "DATABASE_POOL_SIZE": "3"}) == 3

    @pytest.mark.parametrize("value", ["0", "many", -2])
    def test_a_wrong_size_stops_the_runtime(self, tmp_path, pg_url, value):
        with pytest.raises(ConfigError, match="PARLEY_DATABASE_POOL_SIZE"):
            create_app(runtime_config(tmp_path, DATABASE=pg_url, DATABASE_POOL_SIZE=value))


class TestStreamsHaveTheirOwnPool:
    """Agents' event streams borrow from a pool apart from the requests' one, so a burst of
    stream reads never makes Twilio's webhooks wait for a connection."""

    def test_webhooks_are_answered_while_every_stream_connection_is_lent(self, tmp_path,
                                                                          pg_url):
        app = create_app(runtime_config(tmp_path, DATABASE=pg_url, DATABASE_POOL_SIZE=1))
        load_examples(Store(pg_url))
        with app.app_context():
            streams = [open_runtime_store(app, for_stream=True)
                       for _ in range(STREAM_POOL_SIZE)]
        try:
            assert answered(Twilio(app.test_client()).text(PHONE, "hello"))
        finally:
            for store in streams:
                store.close()

    def test_a_stream_reads_while_every_request_connection_is_lent(self, tmp_path, pg_url):
        app = create_app(runtime_config(tmp_path, DATABASE=pg_url, DATABASE_POOL_SIZE=1,
                                        AGENT_STREAM_CONNECTIONS=1))
        with app.app_context():
            request_store = open_runtime_store(app)
            stream_store = open_runtime_store(app, for_stream=True)
            try:
                assert stream_store.conn.raw.info.backend_pid != \
                    request_store.conn.raw.info.backend_pid
                assert stream_store.last_event_id() >= 0
            finally:
                stream_store.close()
                request_store.close()

    def test_its_size_is_a_setting(self, tmp_path, pg_url):
        assert stream_pool_size({}) == STREAM_POOL_SIZE
        assert stream_pool_size({"AGENT_STREAM_CONNECTIONS": "4"}) == 4
        with pytest.raises(ConfigError, match="PARLEY_AGENT_STREAM_CONNECTIONS"):
            create_app(runtime_config(tmp_path, DATABASE=pg_url, AGENT_STREAM_CONNECTIONS="0"))


class TestConnectionsComeBackClean:
    def test_a_view_that_fails_inside_a_transaction_leaves_nothing_open(self, tmp_path,
                                                                        database_url):
        app = create_app(runtime_config(tmp_path, DATABASE=database_url,
                                        DATABASE_POOL_SIZE=1))

        @app.post("/test/fails")
        def fails():
            store = get_db()
            store.backend.begin()  # a bug: a transaction opened outside Store.write()
            store.conn.execute("INSERT INTO settings (key, value) VALUES ('left', 'open')")
            raise RuntimeError("a bug in a view")

        observer = Store(database_url, timeout=0.5)
        load_examples(observer)
        client = app.test_client()
        assert client.post("/test/fails").status_code == 500
        assert observer.get_setting("left") is None
        if on_postgres(app):
            assert observer.conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%'").fetchone()[0] == 0
        with observer.write():  # no lock left behind (SQLite's would time out here)
            observer.set_setting("next", "writer")
        # The one pooled connection (or the thread's) serves the next request cleanly.
        assert client.get("/healthz").status_code == 200
        assert answered(Twilio(client).text(PHONE, "hello"))
        observer.close()



class TestStartWithoutTheDatabase:
    """gunicorn stops a whole node when one worker fails to boot: a worker that starts while
    PostgreSQL is away must come up and answer 503 (Twilio retries) until it is back. That it
    then migrates and answers is tested with a real restart in tests/reliability/test_nodes.py."""

    def test_the_runtime_starts_and_answers_503_while_the_database_is_away(
            self, tmp_path, postgres, monkeypatch):
        from devtools.prism import free_port

        monkeypatch.setenv(ENV, new_key())
        away = postgres.url("parley").replace(f":{postgres.port}/", f":{free_port()}/")
        assert away != postgres.url("parley")
        app = create_app(runtime_config(tmp_path, DATABASE=away))
        try:
            assert not get_runtime(app).schema_ready
            twilio = Twilio(app.test_client())
            response = twilio.text(PHONE, "hello")
            assert response.status_code == 503
            assert response.headers["Retry-After"]
            assert twilio.client.get("/healthz").status_code == 503
        finally:
            close_pools()
