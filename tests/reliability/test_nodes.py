"""Several runtime nodes on one PostgreSQL database: crashes, shared work, shared state.

Every node is a real process on its own port with its own instance folder, given the same
PARLEY_* settings (tests.reliability.conftest.Cluster), as an operator runs Parley on several
machines behind a load balancer:

* the crash test of test_crash.py on two gunicorn nodes, the load spread over both, with
  workers SIGKILLed on both, one whole node killed and started again, and PostgreSQL itself
  restarted mid-load: nothing lost, nothing doubled, and the database equals a replay of the
  stored messages;
* periodic work run by two `parley worker` processes: a chat nobody accepted goes back to the
  bot once, a photo is fetched once, and a job whose worker died is finished by the other;
* a publish made anywhere is served by a node on its next message, and a sign-in (agent
  workspace, designer) made on one node is valid on the other.

Two faults found here are covered too: a gunicorn worker that boots while PostgreSQL is down
(it comes up and answers 503 until the database is back, rather than stopping the node), and a
chat timed out at once by a worker's sweep and by the phone's next message (told once).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from twilio.request_validator import RequestValidator

from bench import loadgen
from engine import handoff
from engine.handoff import DeskTexts
from engine.store import Store
from tests.agents.conftest import PASSWORD, add_agents
from tests.designer.conftest import Author, csrf_token
from tests.reliability.conftest import ARTIFACTS, SOAK, wait_for
from tests.reliability.test_crash import Load, replay, rows
from tests.support.images import png
from tests.support.serving import environment
from tests.webhook.conftest import ROOT, TOKEN, Twilio, load_examples, sign_in_agent
from tests.webhook.servers import _Server
from webhook import create_app
from webhook.sandbox import parse_twiml
from webhook.workspace import get_desk

# ------------------------------------------------------------------ the crash test on two nodes

if SOAK:
    PHONES, PER_PHONE, WORKER_KILLS = 800, 16, 20
else:
    PHONES, PER_PHONE, WORKER_KILLS = 300, 10, 10
NODE_WORKERS = 2  # gunicorn workers per node: two nodes share the machine's cores
GIVE_UP = 20  # retries left unanswered after which the nodes are not tried any more
# Case numbers come from PostgreSQL's sequence, which hands numbers out as transactions ask
# and skips those of rolled-back ones: the same case has another number in a replay.
CASE_NUMBER = re.compile(r"\bCS\d{7}\b")


def canonical(value):
    """A stored value with case numbers blanked (see CASE_NUMBER)."""
    return CASE_NUMBER.sub("CS#######", value) if isinstance(value, str) else value


# The tables, without the ids a database hands out (PostgreSQL's sequences skip the ids of
# rolled-back transactions and interleave phones differently): each phone's rows in order.
BY_PHONE = {
    "conversations": "SELECT phone, state, mode, topic_id, node, closed_at IS NULL, rev"
                     " FROM conversations ORDER BY phone, id",
    "messages": "SELECT c.phone, m.direction, m.sender, m.kind, m.body, m.media, m.node, m.sid"
                " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " ORDER BY c.phone, m.id",
    "outbox": "SELECT phone, channel, body, media, message_id IS NULL FROM outbox"
              " ORDER BY phone, id",
    "agent queue": "SELECT phone, kind, reason, outcome FROM agent_queue ORDER BY phone, id",
}
CASES = "SELECT short_description, description, category, state, priority, opened_by" \
        " FROM cases"


def canonical_rows(store: Store, sql: str) -> list[tuple]:
    return [tuple(canonical(v) for v in row)
            for row in rows(store, sql)]


def differing_tables(stored: Store, fresh: Store) -> list[str]:
    differing = [name for name, sql in BY_PHONE.items()
                 if canonical_rows(stored, sql) != canonical_rows(fresh, sql)]
    if Counter(canonical_rows(stored, CASES)) != Counter(canonical_rows(fresh, CASES)):
        differing.append("cases")
    return differing


@dataclass
class SpreadLoad(Load):
    """The crash test's load, each request (a retry too) sent to a node picked at random, as
    a load balancer does: a phone's next message, or Twilio's retry, may reach another node."""

    nodes: tuple[str, ...] = ()

    def target(self) -> str:
        return self.rng.choice(self.nodes)

    async def resend_unanswered(self) -> list[str]:
        """Twilio's retries, as Load's; once GIVE_UP retries in all went unanswered (the
        nodes are broken: every process is up again by now), the rest count as never
        answered rather than being tried for minutes."""
        never: list[str] = []
        failed = 0
        for index, prepared in enumerate(self.unanswered):
            if failed >= GIVE_UP:
                never += [self.sids[p.raw] for p in self.unanswered[index:]]
                break
            for _attempt in range(10):
                if await self.post(prepared) == 200:
                    break
                failed += 1
                await asyncio.sleep(0.2)
            else:
                never.append(self.sids[prepared.raw])
        return never


class Faults(threading.Thread):
    """Runs each (share, label, action) of a plan once the load has sent that share."""

    def __init__(self, load: Load, plan: list[tuple[float, str, Callable[[], None]]]):
        super().__init__(name="faults", daemon=True)
        self.load = load
        self.plan = sorted(plan, key=lambda step: step[0])
        self.done: list[str] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for share, label, action in self.plan:
                while self.load.attempted < share * self.load.total:
                    if self.stopping.wait(0.01):
                        return
                action()
                self.done.append(label)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def restart_node(node) -> None:
    node.kill()
    time.sleep(0.5)  # down for a moment: requests to it are refused meanwhile
    node.start()


def test_two_nodes_lose_and_double_nothing_when_killed_mid_load(cluster, tmp_path, gunicorn):
    started = time.monotonic()
    public_url = "https://sms.example.com"
    store = cluster.store()
    load_examples(store)
    store.close()
    nodes = [gunicorn(cluster.config(name, PUBLIC_URL=public_url,
                                     TWILIO_ACCOUNT_SID=loadgen.ACCOUNT_SID),
                      workers=NODE_WORKERS)
             for name in ("a", "b")]
    load = SpreadLoad(loadgen.prepare(public_url, auth_token=TOKEN, phones=PHONES,
                                      per_phone=PER_PHONE),
                      public_url, nodes=tuple(node.base_url for node in nodes))
    plan = [(0.05 + 0.45 * n / WORKER_KILLS, "worker", nodes[n % 2].kill_worker)
            for n in range(WORKER_KILLS)]
    plan.append((0.55, "node", lambda: restart_node(nodes[1])))
    # Last, once every process killed has started again, so that every later request meets
    # a pool of connections the restart cut. (Not while a gunicorn worker boots: one that
    # cannot reach the database stops its whole node, test_a_node_outlives_...)
    plan.append((0.7, "database", lambda: cluster.server.restart(down_seconds=0.5)))
    faults = Faults(load, plan)
    faults.start()
    loadgen.run_coroutine(load.run())
    faults.stopping.set()
    faults.join(timeout=120)
    assert faults.error is None, f"fault injection failed: {faults.error!r}"
    for node in nodes:
        if node.process.poll() is not None or not node.worker_pids():
            node.start()  # the load ended while this node was down

    store = cluster.store()  # after the load: PostgreSQL may have been restarted
    unanswered = {load.sids[p.raw] for p in load.unanswered}
    already_stored = sum(
        1 for sid in unanswered
        if store.conn.execute("SELECT 1 FROM inbound_claims WHERE sid = ?", (sid,)).fetchone())
    never = loadgen.run_coroutine(load.resend_unanswered())
    for node in nodes:
        node.stop()

    sent = set(load.sids.values())
    counts = Counter(r[0] for r in store.conn.execute(
        "SELECT sid FROM messages WHERE direction = 'in'"))
    claims = dict(rows(store, "SELECT sid, reply FROM inbound_claims"))
    lost = sorted(sid for sid in sent if counts[sid] == 0 or not claims.get(sid))
    duplicates = sum(n - 1 for n in counts.values() if n > 1) + len(set(counts) - sent)
    different_answers = sum(1 for sid, bodies in load.answers.items()
                            for body in bodies if body.decode() != claims.get(sid))
    fresh, differing_replies = replay(store, tmp_path / "replay", canonical=canonical)
    mismatched = differing_tables(store, fresh)

    figures = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "variant": "soak" if SOAK else "ci",
        "database": "postgresql",
        "nodes": len(nodes),
        "gunicorn_workers_per_node": NODE_WORKERS,
        "phones": PHONES,
        "messages_sent": len(sent),
        "requests": load.requests,
        "worker_kills": faults.done.count("worker"),
        "node_kills": faults.done.count("node"),
        "database_restarts": faults.done.count("database"),
        "unanswered_resent": len(unanswered),
        "unanswered_but_already_stored": already_stored,
        "answered_resent": load.resent_answered,
        "answers_by_status": {str(k): v for k, v in sorted(load.statuses.items())},
        "messages_stored": sum(counts.values()),
        "messages_lost": len(lost),
        "duplicates": duplicates,
        "answers_differing_from_stored_reply": different_answers,
        "replies_differing_from_replay": differing_replies,
        "tables_differing_from_replay": mismatched,
        "never_answered": len(never),
        "conversations_compared": len(rows(store, BY_PHONE["conversations"])),
        "seconds": round(time.monotonic() - started, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "reliability-nodes.json").write_text(json.dumps(figures, indent=2) + "\n",
                                                      encoding="utf-8")
    print("\nreliability figures (two nodes):", json.dumps(figures, indent=2))

    assert len(faults.done) == len(plan)
    assert never == [], "requests never answered after the nodes came back"
    assert lost == [] and duplicates == 0
    # A 5xx (a 503 while PostgreSQL is away, retried by Twilio) is allowed: never a 500.
    assert load.statuses[500] == 0
    assert different_answers == 0
    assert differing_replies == 0 and mismatched == []
    store.close()
    fresh.close()


def database_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def test_a_node_outlives_a_worker_started_while_the_database_is_down(cluster, gunicorn):
    store = cluster.store()
    load_examples(store)
    store.close()
    node = gunicorn(cluster.config("a"), workers=2)
    restart = threading.Thread(target=cluster.server.restart, kwargs={"down_seconds": 5.0})
    restart.start()
    wait_for(lambda: not database_answers(cluster.url), timeout=30, what="PostgreSQL to stop")
    # A worker ends (killed here; gunicorn also recycles them every 2,000 requests): the
    # master starts another while the database is away.
    os.kill(node.worker_pids()[0], signal.SIGKILL)
    restart.join()
    assert node.process.poll() is None, "the node stopped"
    wait_for(lambda: requests.get(node.base_url + "/healthz", timeout=5).status_code == 200,
             timeout=60, what="the node to answer again")


# ------------------------------------------------------------------ periodic work on two nodes


def worker_owner(processes, name: str) -> str:
    """The lease owner a `parley worker` started as `name` logged when it started."""
    def logged():
        for path in processes.folder.glob(f"{name}-*.log"):
            found = re.search(r"worker (worker-[0-9a-f]{12}) started", path.read_text())
            if found:
                return found.group(1)
        return None

    return wait_for(logged, timeout=60, what=f"{name} to start")


def waiting_for_lock(store: Store, table: str) -> int:
    """How many transactions wait for a lock on `table`."""
    return store.conn.execute(
        f"SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass AND NOT granted"
    ).fetchone()[0]


def waiting(store: Store) -> int:
    """How many other connections to the database wait for a lock (rows included)."""
    return store.conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'").fetchone()[0]


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a process and its children at once (a machine losing the process)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=15)


class HangingMedia(_Server):
    """A media host serving a small PNG at every path; the first download hangs until
    `release` is set (or the client goes away)."""

    def __init__(self):
        super().__init__()
        self.first = threading.Event()
        self.release = threading.Event()

    def answer(self, handler):
        if not self.first.is_set():
            self.first.set()
            self.release.wait(120)
        data = png()
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "image/png")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            return  # the worker that asked was killed

    def asked(self) -> Counter:
        return Counter(seen.path for seen in self.requests)


class TestPeriodicWork:
    """Work no request asks for, run by every `parley worker`: each job once, none stuck."""

    WAITING = 12  # chats nobody accepts

    def test_a_chat_nobody_accepted_goes_back_to_the_bot_once(self, cluster, processes,
                                                              prism):
        front = create_app(cluster.config("front", TWILIO_API_BASE_URL=prism.base_url))
        store = cluster.store()
        load_examples(store)
        sign_in_agent(store)  # the desk queues a hand-off while an agent is signed in
        twilio = Twilio(front.test_client())
        phones = [f"+1555030{n:04d}" for n in range(self.WAITING)]
        for phone in phones:
            twilio.text(phone, "hello")
            twilio.text(phone, "agent")
        waiting = rows(store, "SELECT phone FROM agent_queue WHERE ended_at IS NULL")
        assert sorted(phone for (phone,) in waiting) == phones

        # Both workers come to the stale chats at the same moment: held back by a lock on
        # the queue until each waits for it, then let go together.
        workers = {name: cluster.config(name, TWILIO_API_BASE_URL=prism.base_url,
                                        AGENT_QUEUE_TIMEOUT_MINUTES=0.01,
                                        WORKER_POLL_SECONDS=0.05)
                   for name in ("a", "b")}
        blocker = cluster.store()
        with blocker.write():
            blocker.conn.execute("LOCK TABLE agent_queue IN ACCESS EXCLUSIVE MODE")
            started = [processes.sender(config, name=f"worker-{name}")
                       for name, config in workers.items()]
            wait_for(lambda: waiting_for_lock(store, "agent_queue") >= 2, timeout=60,
                     what="both workers to reach the queue")
        blocker.close()
        wait_for(lambda: not rows(store, "SELECT id FROM agent_queue WHERE ended_at IS NULL"),
                 timeout=60, what="every chat back to the bot")
        for process in started:
            processes.stop(process)  # each ends its round: nothing left half-done

        apology = DeskTexts().timed_out
        outcomes = rows(store, "SELECT phone, outcome FROM agent_queue ORDER BY phone")
        told = Counter(phone for (phone,) in store.conn.execute(
            "SELECT c.phone FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.body = ?", (apology,)).fetchall())
        queued = Counter(phone for (phone,) in store.conn.execute(
            "SELECT phone FROM outbox WHERE body = ?", (apology,)).fetchall())
        modes = dict(rows(store, "SELECT phone, mode FROM conversations WHERE closed_at IS NULL"))
        assert outcomes == [(phone, "timed_out") for phone in phones]
        assert told == queued == Counter(phones), "each user is told once"
        assert all(modes[phone] != "handoff" for phone in phones)
        store.close()

    def test_a_chat_timed_out_by_a_worker_and_by_its_next_message_is_told_once(
            self, cluster, prism):
        front = create_app(cluster.config("front", TWILIO_API_BASE_URL=prism.base_url,
                                          AGENT_QUEUE_TIMEOUT_MINUTES=0.01))
        store = cluster.store()
        load_examples(store)
        sign_in_agent(store)
        twilio = Twilio(front.test_client())
        phone = "+15550309999"
        twilio.text(phone, "hello")
        twilio.text(phone, "agent")
        wait_for(lambda: store.stale_queue_entries(waited_seconds=0.6), timeout=30,
                 what="the chat to wait too long")

        # A worker's sweep has claimed the chat and is held before it commits (by a lock on
        # the outbox) when the user's next message comes in on a node.
        sweeper = cluster.store()
        blocker = cluster.store()
        with blocker.write():
            blocker.conn.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            sweep = threading.Thread(target=handoff.sweep, args=(sweeper, get_desk(front)))
            sweep.start()
            wait_for(lambda: waiting_for_lock(store, "outbox") == 1, timeout=30,
                     what="the sweep to wait")
            message = threading.Thread(target=twilio.text, args=(phone, "hello again"))
            message.start()
            wait_for(lambda: waiting(store) == 2, timeout=30, what="the message to wait")
        sweep.join(timeout=30)
        message.join(timeout=30)
        blocker.close()
        sweeper.close()

        told = store.conn.execute(
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.phone = ? AND m.body = ?", (phone, DeskTexts().timed_out)).fetchone()[0]
        assert told == 1
        store.close()

    def test_a_photo_is_fetched_once_and_a_dead_workers_fetch_is_finished_by_another(
            self, cluster, processes, tmp_path):
        with HangingMedia() as media:
            settings = {"MEDIA_TEST_HOSTS": media.netloc, "TWILIO_TIMEOUT_SECONDS": 60,
                        "WORKER_POLL_SECONDS": 0.05}
            front = create_app(cluster.config("front", **settings))
            store = cluster.store()
            load_examples(store)
            twilio = Twilio(front.test_client())

            def send_photos(first: int, count: int) -> list[str]:
                paths = [f"/photo/{n}.png" for n in range(first, first + count)]
                for n, path in enumerate(paths, start=first):
                    response = twilio.text(f"+1555040{n:04d}", "my screen",
                                           media=((media.base_url + path, "image/png"),))
                    assert response.status_code == 200
                return paths

            def fetches() -> list[tuple]:
                return rows(store, "SELECT f.status, f.attempts, f.lease_owner, m.media"
                                   " FROM media_fetches f JOIN messages m ON m.id = f.message_id"
                                   " ORDER BY f.id")

            # Worker a claims every photo, and dies in the middle of the first download.
            first_round = send_photos(0, 5)
            worker_a = processes.sender(cluster.config("a", **settings), name="worker-a")
            owner_a = worker_owner(processes, "worker-a")
            wait_for(media.first.is_set, timeout=60, what="worker a to start a download")
            assert {(status, owner) for status, _n, owner, _m in fetches()} == \
                {("fetching", owner_a)}
            processes.sender(cluster.config("b", **settings), name="worker-b")
            worker_owner(processes, "worker-b")
            kill_group(worker_a)
            time.sleep(1.0)  # b polls some twenty times meanwhile
            assert sum(media.asked().values()) == 1  # and leaves a's leased fetches alone
            # The lease (120 s, webhook/media.py fetch_pending) runs out: moved back here
            # rather than waited for.
            with store.write():
                store.conn.execute("UPDATE media_fetches SET lease_until = ?"
                                   " WHERE lease_owner = ?",
                                   (dt.datetime(2000, 1, 1, tzinfo=dt.UTC).isoformat(),
                                    owner_a))
            wait_for(lambda: {f[0] for f in fetches()} == {"done"}, timeout=60,
                     what="worker b to fetch every photo")

            # With both workers running, each new photo is fetched by one of them, once.
            processes.sender(cluster.config("a", **settings), name="worker-a2")
            worker_owner(processes, "worker-a2")
            second_round = send_photos(5, 8)
            wait_for(lambda: {f[0] for f in fetches()} == {"done"}, timeout=60,
                     what="every photo of the second round")
            media.release.set()

        asked = media.asked()
        hung = next(path for path in first_round if asked[path] == 2)
        assert asked == Counter({path: 2 if path == hung else 1
                                 for path in first_round + second_round})
        done = fetches()
        assert [attempts for _s, attempts, _o, _m in done[:5]] == [2] * 5  # a's, then b's
        assert [attempts for _s, attempts, _o, _m in done[5:]] == [1] * 8
        files = [json.loads(media_json)[0]["file"] for *_rest, media_json in done]
        assert len(set(files)) == len(files) == 13
        store.close()


# ------------------------------------------------------------------ state shared by the nodes

WEB_URL = "http://127.0.0.1"  # served over plain http in tests, as the designer's tests are


def parcel_topic(answer: str) -> dict:
    """A topic the example set does not have: texting "parcel" gets `answer`."""
    return {"id": "parcel_status", "name": "Parcel status", "version": 1,
            "description": "Where a parcel is.",
            "discovery": {"keywords": ["parcel"], "phrases": ["where is my parcel"]},
            "start": "answer",
            "nodes": [{"id": "answer", "type": "flow.end", "message": answer}]}


def text(node, phone: str, body: str) -> list[str]:
    """Twilio posts one signed inbound message to `node`; the bodies it answered."""
    params = Twilio(None).message_params(phone, body)
    signature = RequestValidator(TOKEN).compute_signature(WEB_URL + "/twilio/sms", params)
    response = requests.post(node.base_url + "/twilio/sms", data=params, timeout=30,
                             headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return [body for body, _media in parse_twiml(response.content)]


def form_token(response: requests.Response) -> str:
    return csrf_token(response.text)


class TestSharedState:
    """What one node changes, every node serves on its next request: no restart."""

    @pytest.fixture
    def nodes(self, cluster, gunicorn):
        store = cluster.store()
        load_examples(store)
        add_agents(store)
        store.close()
        return [gunicorn(cluster.config(name, PUBLIC_URL=WEB_URL), workers=1)
                for name in ("a", "b")]

    def test_a_publish_made_anywhere_is_served_by_the_running_nodes(self, cluster, nodes,
                                                                    tmp_path):
        a, b = nodes
        for node in nodes:  # each node has loaded the topics published so far
            assert text(node, f"+1555050010{node is b:d}", "parcel")[0].startswith("Hi, I'm")

        # `parley import --publish` from another machine, against the shared database.
        path = tmp_path / "parcel_status.json"
        path.write_text(json.dumps(parcel_topic("Your parcel is on its way.")),
                        encoding="utf-8")
        imported = subprocess.run(
            [sys.executable, "-c", "from parley.cli import main; main()", "import", "--publish",
             str(path),
             "--database", cluster.url],
            cwd=ROOT, env=environment({"DATA_KEY": cluster.data_key}), capture_output=True,
            text=True, timeout=120)
        assert imported.returncode == 0, imported.stderr
        assert text(b, "+15550500002", "parcel")[0] == "Your parcel is on its way."
        assert text(a, "+15550500003", "parcel")[0] == "Your parcel is on its way."

        # A new version published in a designer (a third process on the same database).
        designer = cluster.designer()
        author = Author(designer.test_client())
        saved = author.post("/topics/parcel_status/save", json={
            "document": parcel_topic("Your parcel arrives tomorrow.")})
        assert saved.status_code == 200, saved.get_json()
        published = author.post("/topics/parcel_status/publish",
                                json={"version": saved.get_json()["version"]})
        assert published.status_code == 200, published.get_json()
        assert text(a, "+15550500004", "parcel")[0] == "Your parcel arrives tomorrow."
        assert text(b, "+15550500005", "parcel")[0] == "Your parcel arrives tomorrow."

    def test_an_agent_signed_in_on_one_node_is_signed_in_on_the_other(self, nodes):
        a, b = nodes
        browser = requests.Session()  # one browser; the load balancer picks the node
        page = browser.get(a.base_url + "/agent/login", timeout=30)
        signed_in = browser.post(a.base_url + "/agent/login", allow_redirects=False,
                                 timeout=30, data={"user_name": "beth", "password": PASSWORD,
                                                   "csrf_token": form_token(page)})
        assert signed_in.status_code == 302, signed_in.text

        workspace = browser.get(b.base_url + "/agent/", timeout=30)
        assert workspace.status_code == 200 and "Beth Anglin" in workspace.text
        assert browser.get(b.base_url + "/agent/api/queue", timeout=30).status_code == 200
        cookie = browser.cookies.copy()
        # A form of node b's page is accepted by node a (one secret key, one session).
        signed_out = browser.post(a.base_url + "/agent/logout", allow_redirects=False,
                                  timeout=30, data={"csrf_token": form_token(workspace)})
        assert signed_out.status_code == 302
        # Signing out on a ends the sign-in on b as well, even for a copy of the cookie.
        assert requests.get(b.base_url + "/agent/api/queue", cookies=cookie, timeout=30,
                            headers={"X-Requested-With": "fetch"}).status_code == 401

    def test_an_author_signed_in_on_one_designer_is_signed_in_on_the_other(self, cluster,
                                                                            nodes):
        first, second = cluster.designer(), cluster.designer()
        author = Author(first.test_client())
        other = second.test_client()
        assert other.get("/topics/new").status_code == 302  # not signed in there yet
        for cookie in author.client._cookies.values():
            other.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
        page = other.get("/topics/new")
        assert page.status_code == 200
        created = other.post("/topics/new", data={"name": "Parcel status", "id": "parcel_status",
                                                  "csrf_token": author.token})
        assert created.status_code == 303, created.text
        store = cluster.store()
        assert store.topic_summary("parcel_status") is not None
        store.close()
