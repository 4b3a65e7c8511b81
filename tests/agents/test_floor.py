"""The agents' floor: queues, capacity, auto-assign, supervisors (take over, move), on both
databases, through the workspace as agents use it."""

from __future__ import annotations

import functools

import pytest
from werkzeug.security import generate_password_hash

from engine import dispatch, floor
from engine.errors import ConfigError
from engine.handoff import DeskTexts
from tests.agents.conftest import PASSWORD, AgentClient
from tests.agents.test_accept_race import race
from tests.webhook.conftest import Twilio, publish
from webhook.worker import Worker
from webhook.workspace import DEFAULTS, desk_settings

BILLING_TOPIC = {
    "id": "billing_dispute",
    "name": "Billing dispute",
    "version": 1,
    "discovery": {"keywords": ["dispute"]},
    "start": "to_people",
    "nodes": [{"id": "to_people", "type": "flow.handoff", "queue": "billing",
               "reason": "billing dispute", "message": "A billing specialist will help."}],
}
TECHNICAL_TOPIC = {
    "id": "router_trouble",
    "name": "Router trouble",
    "version": 1,
    "discovery": {"keywords": ["router"]},
    "start": "to_people",
    "nodes": [{"id": "to_people", "type": "flow.handoff", "queue": "technical",
               "reason": "router trouble"}],
}
CAPACITY = 2


def phone(number: int) -> str:
    return f"+1555040{number:04d}"


@pytest.fixture
def config(config) -> dict:
    return {**config, "AGENT_CAPACITY": CAPACITY}


def set_up_floor(store) -> None:
    """Beth serves billing, Fred technical, Sara supervises (and serves no queue herself)."""
    publish(store, BILLING_TOPIC, TECHNICAL_TOPIC)
    with store.write():
        store.add_staff("sara", generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                        roles=("agent", "supervisor"), display_name="Sara Lead")
        store.set_agent_floor("beth", queues=["billing"])
        store.set_agent_floor("fred", queues=["technical"])
        store.set_agent_floor("sara", queues=["supervision"])


@pytest.fixture
def floor_store(app, store):
    set_up_floor(store)
    return store


@pytest.fixture
def sara(app, floor_store) -> AgentClient:
    return AgentClient(app.test_client(), "sara")


def entry_of(store, number: int) -> dict:
    return store.open_queue_entry(phone=phone(number))


def waiting_phones(agent: AgentClient) -> list[str]:
    return [e["phone"] for e in agent.queue()["waiting"]]


class TestRoutingByQueue:
    def test_a_hand_off_node_names_the_queue_and_agent_goes_to_the_default(
            self, floor_store, beth, twilio):
        twilio.text(phone(1), "dispute")
        twilio.text(phone(2), "router")
        twilio.text(phone(3), "agent")
        assert [entry_of(floor_store, n)["queue"] for n in (1, 2, 3)] == [
            "billing", "technical", "general"]

    def test_an_agent_sees_only_the_queues_they_serve(self, floor_store, beth, fred, sara,
                                                      twilio):
        twilio.text(phone(1), "dispute")
        twilio.text(phone(2), "router")
        assert waiting_phones(beth) == [phone(1)]
        assert waiting_phones(fred) == [phone(2)]
        assert sorted(waiting_phones(sara)) == [phone(1), phone(2)]  # a supervisor: all
        assert [e["queue"] for e in beth.queue()["waiting"]] == ["billing"]

    def test_an_agent_cannot_accept_or_read_another_queues_chat(self, floor_store, beth,
                                                                twilio):
        twilio.text(phone(2), "router")
        entry = entry_of(floor_store, 2)
        answer = beth.accept(entry["id"])
        assert answer.status_code == 403
        assert "technical queue, which you do not serve" in answer.json["error"]
        assert entry_of(floor_store, 2)["agent_id"] is None
        page = f"/agent/conversations/{entry['conversation_id']}"
        assert beth.get(page).status_code == 403
        api = beth.get(f"/agent/api/conversations/{entry['conversation_id']}")
        assert api.status_code == 403
        assert api.json["error"] == "This chat is in the technical queue, which you do not serve."

    def test_away_agents_do_not_count_as_signed_in(self, floor_store, beth, twilio):
        assert beth.post("/agent/status", {"status": "away"}).status_code == 200
        assert beth.queue()["agents_present"] == 0
        twilio.text(phone(1), "dispute")
        assert entry_of(floor_store, 1)["kind"] == "callback"  # nobody to chat with now

    def test_an_agent_with_no_queues_serves_every_queue(self, floor_store, beth, twilio):
        with floor_store.write():
            floor_store.set_agent_floor("beth", queues=[])
        twilio.text(phone(1), "dispute")
        twilio.text(phone(2), "router")
        assert sorted(waiting_phones(beth)) == [phone(1), phone(2)]


class TestDefaultQueue:
    @pytest.fixture
    def config(self, config) -> dict:
        return {**config, "AGENT_DEFAULT_QUEUE": "front_desk"}

    def test_agent_and_the_fallback_go_to_the_default_queue(self, floor_store, beth, twilio):
        twilio.text(phone(3), "agent")
        assert entry_of(floor_store, 3)["queue"] == "front_desk"
        assert waiting_phones(beth) == []  # Beth serves billing only

    def test_a_bad_queue_name_is_refused_at_start(self):
        with pytest.raises(ConfigError, match="PARLEY_AGENT_DEFAULT_QUEUE 'front desk'"):
            desk_settings({**DEFAULTS, "AGENT_DEFAULT_QUEUE": "Front Desk"})


class TestCapacity:
    def test_accept_stops_at_the_capacity_until_a_chat_ends(self, floor_store, beth, twilio):
        for number in (1, 2, 3):
            twilio.text(phone(number), "dispute")
        for number in (1, 2):
            assert beth.accept(entry_of(floor_store, number)["id"]).status_code == 200
        refused = beth.accept(entry_of(floor_store, 3)["id"])
        assert refused.status_code == 409
        assert refused.json["error"] == (
            f"You already have {CAPACITY} open chats, your capacity: end one first.")
        first = entry_of(floor_store, 1)["conversation_id"]
        assert beth.post(f"/agent/conversations/{first}/end").status_code == 200
        assert beth.accept(entry_of(floor_store, 3)["id"]).status_code == 200

    def test_an_agents_own_capacity_wins_over_the_default(self, floor_store, beth, twilio):
        with floor_store.write():
            floor_store.set_agent_floor("beth", capacity=1)
        twilio.text(phone(1), "dispute")
        twilio.text(phone(2), "dispute")
        assert beth.accept(entry_of(floor_store, 1)["id"]).status_code == 200
        assert beth.accept(entry_of(floor_store, 2)["id"]).status_code == 409
        assert beth.queue()["capacity"] == 1


class TestAutoAssign:
    @pytest.fixture
    def config(self, config) -> dict:
        return {**config, "AGENT_AUTO_ASSIGN": "1"}

    def test_a_chat_goes_to_the_least_busy_online_agent_of_its_queue(
            self, app, floor_store, beth, twilio):
        with floor_store.write():
            floor_store.set_agent_floor("fred", queues=["billing"])
        fred = AgentClient(app.test_client(), "fred")
        twilio.text(phone(1), "dispute")
        first = entry_of(floor_store, 1)["agent_name"]
        twilio.text(phone(2), "dispute")
        second = entry_of(floor_store, 2)["agent_name"]
        assert {first, second} == {"Beth Anglin", "Fred Agent"}  # one each: least busy
        said = [m["body"] for m in floor_store.messages(
            entry_of(floor_store, 2)["conversation_id"]) if m["direction"] == "out"]
        assert said[-2:] == ["A billing specialist will help.", f"{second} has joined the chat."]
        assert fred.queue()["waiting"] == [] and beth.queue()["waiting"] == []

    def test_a_busy_agent_gets_nothing_until_online_again(self, floor_store, beth, twilio):
        assert beth.post("/agent/status", {"status": "busy"}).status_code == 200
        twilio.text(phone(1), "dispute")
        assert entry_of(floor_store, 1)["agent_id"] is None
        assert beth.post("/agent/status", {"status": "online"}).status_code == 200
        assert entry_of(floor_store, 1)["agent_name"] == "Beth Anglin"

    def test_a_full_agent_gets_the_next_chat_when_one_ends(self, app, floor_store, beth,
                                                           twilio):
        for number in (1, 2, 3):
            twilio.text(phone(number), "dispute")
        assert [entry_of(floor_store, n)["agent_name"] for n in (1, 2, 3)] == [
            "Beth Anglin", "Beth Anglin", None]
        assert dispatch.assign_waiting(floor_store, app.extensions["parley_desk"]) == 0
        first = entry_of(floor_store, 1)["conversation_id"]
        assert beth.post(f"/agent/conversations/{first}/end").status_code == 200
        assert entry_of(floor_store, 3)["agent_name"] == "Beth Anglin"

    def test_the_worker_round_assigns_waiting_chats(self, app, floor_store, beth, twilio):
        with floor_store.write():
            floor_store.set_agent_status(floor_store.staff_member("beth")["id"], "busy")
        twilio.text(phone(1), "dispute")
        with floor_store.write():
            floor_store.set_agent_status(floor_store.staff_member("beth")["id"], "online")
        # One worker round (its sender finds the outbox empty: nothing goes to Twilio; it
        # also folds the message's Insight figures, so the work it reports is more than 1).
        assert Worker(app).run_once() >= 1
        assert entry_of(floor_store, 1)["agent_name"] == "Beth Anglin"
        assert [m["body"] for m in floor_store.outbox_messages(phone=phone(1))] == [
            "Beth Anglin has joined the chat."]

    def test_two_chats_at_once_never_overfill_an_agent(self, app, floor_store, beth):
        # Beth has room for one more chat; two users ask at the same moment, each through
        # their own request (threads, own connections): exactly one is hers.
        with floor_store.write():
            floor_store.set_agent_floor("beth", capacity=1)
        for round_number in range(6):
            first, second = phone(100 + 2 * round_number), phone(101 + 2 * round_number)
            texts = [functools.partial(Twilio(app.test_client()).text, p, "dispute")
                     for p in (first, second)]
            answers = race(*texts)
            assert [a.status_code for a in answers] == [200, 200]
            owners = [floor_store.open_queue_entry(phone=p)["agent_id"] for p in (first, second)]
            assert sorted(owners, key=str) == sorted([beth_id(floor_store), None], key=str)
            taken = first if owners[0] else second
            conversation = floor_store.open_queue_entry(phone=taken)["conversation_id"]
            assert beth.post(f"/agent/conversations/{conversation}/end").status_code == 200
            # Ending it gave Beth the other chat (she has room again): end that one too.
            other = second if taken == first else first
            entry = floor_store.open_queue_entry(phone=other)
            assert entry["agent_id"] == beth_id(floor_store)
            assert beth.post(f"/agent/conversations/{entry['conversation_id']}/end"
                             ).status_code == 200


def beth_id(store) -> int:
    return store.staff_member("beth")["id"]


class TestSupervisor:
    def test_take_over_and_the_agent_is_told(self, floor_store, beth, sara, twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        assert beth.accept(entry["id"]).status_code == 200
        answer = sara.post(f"/agent/supervisor/entries/{entry['id']}/take")
        assert answer.status_code == 200 and answer.json["agent"] == "Sara Lead"
        state = beth.conversation(entry["conversation_id"])["entry"]
        assert state["state"] == "taken" and state["text"] == "Sara Lead is handling this chat."
        refused = beth.reply(entry["conversation_id"], body="still me")
        assert refused.status_code == 400
        assert sara.reply(entry["conversation_id"], body="Hello, Sara here.").status_code == 200
        sent = [m["body"] for m in floor_store.outbox_messages(phone=phone(1))]
        assert sent == ["Beth Anglin has joined the chat.", "Sara Lead has joined the chat.",
                        "Hello, Sara here."]

    def test_a_supervisor_reads_and_accepts_any_chat(self, floor_store, sara, twilio):
        twilio.text(phone(2), "router")
        entry = entry_of(floor_store, 2)
        page = sara.get(f"/agent/conversations/{entry['conversation_id']}")
        assert page.status_code == 200 and 'id="take-over"' not in page.text  # Accept it
        assert sara.conversation(entry["conversation_id"])["entry"]["state"] == "waiting"
        assert sara.accept(entry["id"]).status_code == 200

    def test_a_chat_page_offers_a_supervisor_the_take_over(self, floor_store, beth, sara,
                                                           twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        assert beth.accept(entry["id"]).status_code == 200
        page = sara.get(f"/agent/conversations/{entry['conversation_id']}")
        assert 'id="take-over"' in page.text
        taken = sara.client.post(f"/agent/supervisor/entries/{entry['id']}/take",
                                 data={"csrf_token": sara.token})
        assert taken.status_code == 302
        assert taken.location == f"/agent/conversations/{entry['conversation_id']}"

    def test_agents_see_no_take_over_button(self, floor_store, beth, twilio):
        twilio.text(phone(1), "dispute")
        page = beth.get(f"/agent/conversations/{entry_of(floor_store, 1)['conversation_id']}")
        assert page.status_code == 200 and 'id="take-over"' not in page.text

    def test_move_to_another_agent(self, floor_store, beth, fred, sara, twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        assert beth.accept(entry["id"]).status_code == 200
        fred_id = floor_store.staff_member("fred")["id"]
        answer = sara.post(f"/agent/supervisor/entries/{entry['id']}/move",
                           {"agent_id": str(fred_id)})
        assert answer.status_code == 200 and answer.json["agent"] == "Fred Agent"
        assert fred.conversation(entry["conversation_id"])["entry"]["state"] == "mine"
        assert [e["phone"] for e in fred.queue()["mine"]] == [phone(1)]
        assert beth.queue()["mine"] == []

    def test_move_to_another_queue(self, floor_store, beth, fred, sara, twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        assert beth.accept(entry["id"]).status_code == 200
        answer = sara.post(f"/agent/supervisor/entries/{entry['id']}/move",
                           {"queue": "technical"})
        assert answer.status_code == 200 and answer.json["queue"] == "technical"
        assert answer.json["agent"] is None
        assert waiting_phones(fred) == [phone(1)] and waiting_phones(beth) == []
        assert beth.queue()["mine"] == []
        assert fred.accept(entry["id"]).status_code == 200
        sent = [m["body"] for m in floor_store.outbox_messages(phone=phone(1))]
        assert sent == ["Beth Anglin has joined the chat.", DeskTexts().moved,
                        "Fred Agent has joined the chat."]
        bad = sara.post(f"/agent/supervisor/entries/{entry['id']}/move", {"queue": "Not ok"})
        assert bad.status_code == 409 and "is not a queue name" in bad.json["error"]

    def test_only_a_supervisor_may(self, floor_store, beth, fred, twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        assert beth.accept(entry["id"]).status_code == 200
        assert fred.get("/agent/supervisor/").status_code == 403
        assert fred.post(f"/agent/supervisor/entries/{entry['id']}/take").status_code == 403
        assert fred.post(f"/agent/supervisor/entries/{entry['id']}/move",
                         {"queue": "technical"}).status_code == 403
        assert entry_of(floor_store, 1)["agent_name"] == "Beth Anglin"
        assert entry_of(floor_store, 1)["queue"] == "billing"

    def test_every_supervisor_post_needs_the_csrf_token(self, floor_store, sara, twilio):
        twilio.text(phone(1), "dispute")
        entry = entry_of(floor_store, 1)
        answer = sara.client.post(f"/agent/supervisor/entries/{entry['id']}/take",
                                  headers={"X-Requested-With": "fetch"})
        assert answer.status_code == 400 and "CSRF" in answer.json["error"]
        assert entry_of(floor_store, 1)["agent_id"] is None

    def test_the_floor_page_shows_queues_agents_and_the_days_figures(
            self, floor_store, beth, sara, twilio):
        twilio.text(phone(1), "dispute")
        twilio.text(phone(2), "router")
        twilio.text(phone(3), "dispute")
        assert beth.accept(entry_of(floor_store, 3)["id"]).status_code == 200
        conversation = entry_of(floor_store, 3)["conversation_id"]
        assert beth.post(f"/agent/conversations/{conversation}/end").status_code == 200
        assert beth.accept(entry_of(floor_store, 1)["id"]).status_code == 200
        page = sara.get("/agent/supervisor/")
        assert page.status_code == 200
        html = page.text
        assert 'data-queue="technical" data-entry' in html  # Fred's queue: one waiting
        assert 'data-queue="billing" data-entry' not in html  # Beth took both
        assert 'data-agent="beth"' in html and "1 / 2" in html
        assert '<strong id="handled">1</strong>' in html
        figures = floor.figures(floor_store, since=floor_store.clock() - 3600)
        assert figures["handled"] == 1 and figures["median_wait"] >= 0
        assert figures["median_handling"] >= 0


class TestCommand:
    def test_set_queues_capacity_and_supervisor(self, cli, store):
        result = cli("staff", "set", "beth", "--queues", "billing,technical", "--capacity", "4")
        assert result.exit_code == 0, result.output
        assert cli("staff", "roles", "beth", "--add", "supervisor").exit_code == 0
        agent = store.floor_agent(store.staff_member("beth")["id"])
        assert (agent["queues"], agent["capacity"]) == ("billing,technical", 4)
        assert floor.is_supervisor(agent)
        line = cli("staff", "list").stdout.splitlines()[0]
        assert line.startswith("beth\tagent,supervisor\t")
        assert line.endswith("queues: billing,technical\tcapacity: 4")
        assert cli("staff", "roles", "beth", "--remove", "supervisor").exit_code == 0
        assert not floor.is_supervisor(store.floor_agent(agent["id"]))

    def test_the_old_agents_set_still_works(self, cli, store):
        result = cli("agents", "set", "beth", "--capacity", "3", "--supervisor")
        assert result.exit_code == 0, result.output
        assert "deprecated" in result.stderr
        agent = store.floor_agent(store.staff_member("beth")["id"])
        assert agent["capacity"] == 3 and floor.is_supervisor(agent)

    def test_bad_queue_names_and_unknown_agents_are_refused(self, cli):
        result = cli("staff", "set", "beth", "--queues", "Billing Team")
        assert result.exit_code == 2 and "is not a queue name" in result.output
        assert "no staff member 'nobody'" in cli("staff", "set", "nobody", "--capacity",
                                                 "2").output
