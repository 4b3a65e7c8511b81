"""Answers the bot is waiting for, as a user meets them: a text that is too long is told so,
and an option's exact label picks it even on a page of the list not shown yet."""

from __future__ import annotations

import pytest

from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.messages import Inbound
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.engine.topics import CHOOSE_FRUIT

PHONE = "+15550108888"

NICKNAME = {
    "id": "nickname",
    "name": "Choose a nickname",
    "version": 1,
    "discovery": {"keywords": ["nickname"]},
    "variables": {"nickname": {"type": "string"}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "What should we call you?",
         "var": "nickname", "min_length": 3, "max_length": 20,
         "reprompt": "Could you tell me a little more (at least 3 letters)?", "next": "said"},
        {"id": "said", "type": "response.text", "text": "Hello, {{ nickname }}!",
         "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}


@pytest.fixture
def store(database_url):
    store = open_store(database_url, clock=ManualClock())
    load_sample_data(store)
    yield store
    store.close()


def bodies(reply):
    return [m.body for m in reply.messages]


class TestTextAnswers:
    def test_an_answer_over_the_limit_is_told_the_limit_not_to_say_more(self, store):
        engine = Engine(store, catalog=StaticCatalog([NICKNAME]))
        engine.process(Inbound(PHONE, "nickname"))
        reply = engine.process(Inbound(PHONE, "The Magnificent Captain Reginald"))
        assert bodies(reply) == ["That answer is too long: please keep it to 20 characters or "
                                 "fewer. What should we call you?"]
        assert reply.node == "ask"

    def test_after_a_shorter_answer_the_topic_goes_on(self, store):
        engine = Engine(store, catalog=StaticCatalog([NICKNAME]))
        engine.process(Inbound(PHONE, "nickname"))
        engine.process(Inbound(PHONE, "The Magnificent Captain Reginald"))
        reply = engine.process(Inbound(PHONE, "Captain Reggie"))
        assert bodies(reply) == ["Hello, Captain Reggie!"]

    def test_an_answer_of_exactly_the_limit_is_taken(self, store):
        engine = Engine(store, catalog=StaticCatalog([NICKNAME]))
        engine.process(Inbound(PHONE, "nickname"))
        reply = engine.process(Inbound(PHONE, "x" * 20))
        assert bodies(reply) == [f"Hello, {'x' * 20}!"]

    def test_a_short_answer_still_gets_the_authors_reprompt(self, store):
        engine = Engine(store, catalog=StaticCatalog([NICKNAME]))
        engine.process(Inbound(PHONE, "nickname"))
        reply = engine.process(Inbound(PHONE, "Al"))
        assert bodies(reply) == ["Could you tell me a little more (at least 3 letters)?"]

    def test_without_a_max_length_the_limit_is_an_sms_of_1600_characters(self, store):
        topic = {**NICKNAME, "nodes": [{k: v for k, v in NICKNAME["nodes"][0].items()
                                        if k != "max_length"}, *NICKNAME["nodes"][1:]]}
        engine = Engine(store, catalog=StaticCatalog([topic]))
        engine.process(Inbound(PHONE, "nickname"))
        reply = engine.process(Inbound(PHONE, "word " * 400))
        assert bodies(reply)[0].startswith(
            "That answer is too long: please keep it to 1600 characters or fewer.")

    def test_too_long_answers_count_as_attempts(self, store):
        engine = Engine(store, catalog=StaticCatalog([NICKNAME]))
        engine.process(Inbound(PHONE, "nickname"))
        for _ in range(2):
            engine.process(Inbound(PHONE, "y" * 21))
        reply = engine.process(Inbound(PHONE, "y" * 21))
        assert "gave_up:ask" in reply.events


class TestChoicePages:
    """CHOOSE_FRUIT lists twelve fruits, nine a page: Lemon, Mango, Nectarine are on page 2."""

    @pytest.mark.parametrize("answer", ["Mango", "mango!", "MANGO"])
    def test_the_exact_label_of_an_option_not_shown_yet_picks_it(self, store, answer):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        reply = engine.process(Inbound(PHONE, answer))
        assert bodies(reply) == ["Your PIN?"]
        assert store.open_conversation(PHONE).state["vars"]["fruit"] == "mango"

    def test_its_value_picks_it_too(self, store):
        topic = {**CHOOSE_FRUIT, "nodes": [
            {**CHOOSE_FRUIT["nodes"][0],
             "options": [*CHOOSE_FRUIT["nodes"][0]["options"][:11],
                         {"label": "Nectarine (white)", "value": "nectarine"}]},
            *CHOOSE_FRUIT["nodes"][1:]]}
        engine = Engine(store, catalog=StaticCatalog([topic]))
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, "nectarine"))
        assert store.open_conversation(PHONE).state["vars"]["fruit"] == "nectarine"

    @pytest.mark.parametrize("answer", ["mang", "mangoo", "11"])
    def test_numbers_prefixes_and_typos_still_pick_only_among_the_options_shown(
            self, store, answer):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        reply = engine.process(Inbound(PHONE, answer))
        assert reply.node == "pick"
        assert bodies(reply)[0].startswith("Sorry, I didn't get that.\n1. Apple")

    def test_after_more_the_same_label_still_works(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, "more"))
        engine.process(Inbound(PHONE, "lemon"))
        assert store.open_conversation(PHONE).state["vars"]["fruit"] == "lemon"

    def test_a_dynamic_list_takes_the_exact_label_of_a_later_page(self, store):
        topic = {
            "id": "pick_case", "name": "Pick a case", "version": 1,
            "discovery": {"keywords": ["case"]},
            "variables": {"number": {"type": "string"}},
            "data_sources": {"mine": {"kind": "sqlite", "table": "cases",
                                      "where": {"opened_by": "pat.pager"},
                                      "order_by": "number"}},
            "start": "pick",
            "nodes": [
                {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which case?",
                 "var": "number", "source": "mine", "label": "{{ item.short_description }}",
                 "value": "{{ item.number }}", "next": "said"},
                {"id": "said", "type": "response.text", "text": "Case {{ number }}.",
                 "next": "bye"},
                {"id": "bye", "type": "flow.end", "ask_anything_else": False},
            ],
        }
        with store.write():
            cases = [store.create_case({"short_description": f"Broken thing number {n}",
                                        "opened_by": "pat.pager"}) for n in range(1, 13)]
        engine = Engine(store, catalog=StaticCatalog([topic]))
        first = engine.process(Inbound(PHONE, "case"))
        assert "Broken thing number 11" not in bodies(first)[0]
        reply = engine.process(Inbound(PHONE, "broken thing number 11"))
        assert bodies(reply) == [f"Case {cases[10]['number']}."]
