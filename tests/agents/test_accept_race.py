"""Two agents accepting the same chat at the same moment: exactly one gets it."""

from __future__ import annotations

import functools
import multiprocessing
import threading

from engine import handoff
from engine.errors import ParleyError
from engine.store import Store
from tests.agents.conftest import AgentClient

ROUNDS = 8


def race(*calls):
    """Start every call at once (a barrier) in its own thread; returns their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


class TestThroughTheWorkspace:
    def test_one_agent_wins_and_the_other_is_told(self, app, twilio, store):
        beth = AgentClient(app.test_client(), "beth")
        fred = AgentClient(app.test_client(), "fred")
        for round_number in range(ROUNDS):
            phone = f"+1555020{round_number:04d}"
            twilio.text(phone, "agent")
            entry_id = store.open_queue_entry(phone=phone)["id"]
            answers = race(functools.partial(beth.accept, entry_id),
                           functools.partial(fred.accept, entry_id))
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 409], [a.json for a in answers]
            loser = next(a for a in answers if a.status_code == 409)
            winner = store.queue_entry(entry_id)["agent_name"]
            assert loser.json["error"] == f"{winner} already accepted this chat."
            joined = [m["body"] for m in store.outbox_messages(phone=phone)]
            assert joined == [f"{winner} has joined the chat."]  # said once, by the winner


def _accept_in_process(database: str, entry_id: int, agent: dict, barrier, results) -> None:
    """One agent's accept, from its own process and connection (a second web worker)."""
    store = Store(database)
    desk = handoff.HandoffDesk(handoff.DeskSettings(capacity=ROUNDS))
    barrier.wait()
    try:
        with store.write():
            handoff.accept(store, entry_id, agent=agent, desk=desk)
        results.put((agent["id"], "won"))
    except ParleyError as exc:
        results.put((agent["id"], str(exc)))
    finally:
        store.close()


class TestAcrossProcesses:
    def test_one_process_wins(self, app, twilio, store):
        agents = [{"id": store.staff_member(name)["id"], "display_name": name}
                  for name in ("beth", "fred")]
        with store.write():  # someone is signed in, so the chat is queued
            store.open_staff_session(agents[0]["id"], "token", app="workspace")
        context = multiprocessing.get_context("fork")
        for round_number in range(ROUNDS):
            phone = f"+1555030{round_number:04d}"
            twilio.text(phone, "agent")
            entry_id = store.open_queue_entry(phone=phone)["id"]
            barrier, results = context.Barrier(2), context.Queue()
            workers = [context.Process(target=_accept_in_process,
                                       args=(app.config["DATABASE"], entry_id, agent, barrier,
                                             results)) for agent in agents]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=30)
            outcomes = sorted(results.get(timeout=5)[1] for _ in workers)
            winner = store.queue_entry(entry_id)["agent_name"]
            assert outcomes == sorted(["won", f"{winner} already accepted this chat."])
