"""Topics in several languages: one topic served in English and Spanish, switching mid-way,
Spanish answer and carrier words, and what publishing says of a missing translation."""

from __future__ import annotations

import copy

import pytest

from engine import sms
from engine.assembly import standard_interceptors
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.errors import TopicError
from engine.messages import Inbound
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from engine.validation import check, problems

PHONE = "+15550107777"
OTHER_PHONE = "+15550107778"

DELIVERY = {
    "id": "delivery",
    "name": {"en": "My delivery", "es": "Mi entrega"},
    "version": 1,
    "languages": ["en", "es"],
    "default_language": "en",
    "discovery": {"keywords": {"en": ["delivery"], "es": ["entrega"]}},
    "variables": {"ok": {"type": "boolean"}, "when": {"type": "string"}},
    "start": "confirm",
    "nodes": [
        {"id": "confirm", "type": "input.boolean",
         "prompt": {"en": "Is Friday ok for your delivery?",
                    "es": "¿Le va bien el viernes para su entrega?"},
         "var": "ok", "yes_words": {"en": ["confirm"], "es": ["confirmar"]},
         "on_yes": "booked", "on_no": "pick", "on_max_attempts": "booked"},
        {"id": "pick", "type": "input.static_choice",
         "prompt": {"en": "Which day then?", "es": "¿Qué día entonces?"},
         "var": "when", "options": [
             {"label": {"en": "Monday", "es": "Lunes"}, "value": "monday"},
             {"label": {"en": "Tuesday", "es": "Martes"}, "value": "tuesday"}],
         "next": "booked", "on_max_attempts": "booked"},
        {"id": "booked", "type": "response.text",
         "text": {"en": "Booked ({{ when or 'friday' }}).",
                  "es": "Reservado ({{ when or 'friday' }})."},
         "next": "done"},
        {"id": "done", "type": "flow.end", "ask_anything_else": False},
    ],
}


@pytest.fixture
def store(database_url):
    store = open_store(database_url, clock=ManualClock())
    load_sample_data(store)
    yield store
    store.close()


@pytest.fixture
def engine(store):
    return Engine(store, catalog=StaticCatalog([DELIVERY]),
                  interceptors=standard_interceptors())


def bodies(reply):
    return [m.body for m in reply.messages]


def play(engine, phone, *texts):
    return [engine.process(Inbound(phone, text)) for text in texts]


class TestOneTopicTwoLanguages:
    def test_english_and_spanish_take_the_same_path_in_their_own_words(self, engine, store):
        english = play(engine, PHONE, "delivery", "no", "2")
        with store.write():
            store.set_phone_language(OTHER_PHONE, "es")
        spanish = play(engine, OTHER_PHONE, "entrega", "no", "martes")
        assert [bodies(r) for r in english] == [
            ["Is Friday ok for your delivery?"],
            ["Which day then?\n1. Monday\n2. Tuesday\nReply with a number."],
            ["Booked (tuesday)."]]
        assert [bodies(r) for r in spanish] == [
            ["¿Le va bien el viernes para su entrega?"],
            ["¿Qué día entonces?\n1. Lunes\n2. Martes\nResponda con un numero."],
            ["Reservado (tuesday)."]]
        assert [r.traversed for r in english] == [r.traversed for r in spanish]

    def test_the_conversation_records_its_language(self, engine, store):
        with store.write():
            store.set_phone_language(PHONE, "es")
        [reply] = play(engine, PHONE, "entrega")
        assert store.conversation(reply.conversation_id)["language"] == "es"

    def test_spanish_yes_words_and_the_nodes_own_spanish_words(self, engine, store):
        answers = {"sí": True, "claro": True, "Claro que sí": True, "confirmar": True,
                   "vale": True, "no": False, "No, gracias": False, "para nada": False}
        for index, (answer, yes) in enumerate(answers.items()):
            phone = f"+1555010{7100 + index}"
            with store.write():
                store.set_phone_language(phone, "es")
            replies = play(engine, phone, "entrega", answer)
            expected = "Reservado (friday)." if yes else "¿Qué día entonces?"
            assert bodies(replies[-1])[0].startswith(expected), answer

    def test_an_unknown_answer_is_apologised_for_in_spanish(self, engine, store):
        with store.write():
            store.set_phone_language(PHONE, "es")
        replies = play(engine, PHONE, "entrega", "quizás")
        assert bodies(replies[-1]) == [
            "Lo siento, no le entendi. ¿Le va bien el viernes para su entrega?"]


class TestChoosingAndSwitching:
    def test_switching_mid_topic_asks_again_in_the_new_language(self, engine, store):
        first, second = play(engine, PHONE, "delivery", "no")
        switched = engine.process(Inbound(PHONE, "ESPAÑOL"))
        assert bodies(switched) == [
            "De acuerdo, le escribiré en español.",
            "¿Qué día entonces?\n1. Lunes\n2. Martes\nResponda con un numero."]
        assert switched.conversation_id == first.conversation_id
        answered = engine.process(Inbound(PHONE, "lunes"))
        assert bodies(answered) == ["Reservado (monday)."]
        back = play(engine, PHONE, "delivery", "english")
        assert bodies(back[-1]) == ["OK, I'll text you in English.",
                                    "Is Friday ok for your delivery?"]

    def test_the_choice_is_remembered_for_the_phone(self, engine, store):
        play(engine, PHONE, "espanol")
        assert store.phone_language(PHONE) == "es"
        replies = play(engine, PHONE, "delivery")
        assert bodies(replies[-1]) == ["¿Le va bien el viernes para su entrega?"]

    def test_the_choice_follows_a_linked_account_to_another_phone(self, engine, store):
        abel = store.user(user_name="abel.tuter")
        with store.write():
            store.link_phone(PHONE, abel["id"])
            store.link_phone(OTHER_PHONE, abel["id"])
        play(engine, PHONE, "ESPAÑOL")
        assert store.user_language(abel["id"]) == "es"
        replies = play(engine, OTHER_PHONE, "delivery")
        assert bodies(replies[-1]) == ["¿Le va bien el viernes para su entrega?"]

    def test_the_language_menu_lists_the_languages_and_takes_a_number(self, engine, store):
        menu, chosen = play(engine, PHONE, "IDIOMA", "2")
        assert bodies(menu) == ["Which language? Reply with a number:\n1. English\n2. Español"]
        assert bodies(chosen)[0] == "De acuerdo, le escribiré en español."
        assert store.phone_language(PHONE) == "es"

    def test_a_language_word_is_an_ordinary_answer_where_one_language_is_spoken(self, store):
        english_only = copy.deepcopy(DELIVERY)
        for key in ("languages", "default_language"):
            english_only.pop(key)
        english_only["name"] = "My delivery"
        english_only["discovery"] = {"keywords": ["delivery"]}
        engine = Engine(store, catalog=StaticCatalog([_english(english_only)]),
                        interceptors=standard_interceptors())
        [reply] = play(engine, PHONE, "ESPAÑOL")
        assert "language:es" not in reply.events
        assert store.phone_language(PHONE) is None


def _english(document: dict) -> dict:
    from engine.translations import localized_document

    return localized_document(document, "en")


class TestSpanishCarrierWords:
    @pytest.mark.parametrize("word", ["PARAR", "alto", "Cancelar."])
    def test_spanish_opt_out_words_opt_out_and_are_recorded(self, engine, store, word):
        [reply] = play(engine, PHONE, word)
        assert store.is_opted_out(PHONE)
        assert bodies(reply) == ["Se ha dado de baja de Parley y no recibirá más mensajes. "
                                 "Escriba COMENZAR para volver a suscribirse."]
        [event] = store.subscription_events(phone=PHONE)
        assert (event["change"], event["source"], event["body"]) == (
            "opted_out", "sms", sms.keyword(word))
        [silent] = play(engine, PHONE, "hola")
        assert bodies(silent) == []

    def test_comenzar_opts_back_in_and_ayuda_answers_in_spanish(self, engine, store):
        play(engine, PHONE, "PARAR")
        [back] = play(engine, PHONE, "COMENZAR")
        assert not store.is_opted_out(PHONE)
        assert bodies(back)[0].startswith("Volverá a recibir mensajes de Parley.")
        assert [e["change"] for e in store.subscription_events(phone=PHONE)] == [
            "opted_out", "opted_in"]
        [helped] = play(engine, PHONE, "AYUDA")
        assert bodies(helped)[0].startswith("Parley: soporte por mensaje. Para ayuda, escriba "
                                            "AGENTE para hablar con una persona.")

    def test_english_stop_still_works_for_a_spanish_speaker_and_answers_in_spanish(
            self, engine, store):
        with store.write():
            store.set_phone_language(PHONE, "es")
        [reply] = play(engine, PHONE, "STOP")
        assert store.is_opted_out(PHONE)
        assert bodies(reply)[0].startswith("Se ha dado de baja")


class TestPublishing:
    def test_a_missing_translation_is_an_error_with_its_path_and_language(self, store):
        document = copy.deepcopy(DELIVERY)
        document["nodes"][1]["prompt"] = "Which day then?"
        del document["nodes"][2]["text"]["es"]
        with pytest.raises(TopicError) as raised:
            check(document)
        missing = {(p.path, p.message.split(";")[0]) for p in raised.value.problems
                   if "translation" in p.message}
        assert missing == {("$.nodes[1].prompt", "missing its Spanish (es) translation"),
                           ("$.nodes[2].text", "missing its Spanish (es) translation")}
        with store.write():
            version = store.save_topic_version(document)
            with pytest.raises(TopicError):
                store.publish_topic_version("delivery", version)

    def test_with_fallback_on_it_publishes_and_speaks_the_default_language(self, store):
        document = copy.deepcopy(DELIVERY)
        document["fallback_to_default"] = True
        del document["nodes"][0]["prompt"]["es"]
        warnings = check(document)
        assert any(w.path == "$.nodes[0].prompt" and "Spanish (es)" in w.message
                   for w in warnings)
        with store.write():
            version = store.save_topic_version(document)
            store.publish_topic_version("delivery", version)
            store.set_phone_language(PHONE, "es")
        engine = Engine(store, interceptors=standard_interceptors())
        [reply] = play(engine, PHONE, "entrega")
        assert bodies(reply) == ["Is Friday ok for your delivery?"]

    def test_a_translation_that_breaks_its_template_is_an_error(self):
        document = copy.deepcopy(DELIVERY)
        document["nodes"][2]["text"]["es"] = "Reservado ({{ when }."
        found = [p for p in problems(document) if p.severity == "error"]
        assert [p.path for p in found] == ["$.nodes[2].text.es"]
        assert "Spanish (es) translation is not a valid template" in found[0].message

    def test_each_language_is_priced_and_the_cheaper_spelling_suggested(self):
        document = copy.deepcopy(DELIVERY)
        document["nodes"][2]["text"]["es"] = ("Reservado. Le enviaremos un recordatorio el día "
                                              "anterior, con la hora exacta de llegada del "
                                              "camión y el número de contacto del conductor.")
        [advice] = [p for p in problems(document) if p.path == "$.nodes[2].text"]
        assert advice.severity == "warning"
        assert advice.message.startswith("in Spanish (es): contains 'í' (U+00ED), 'ó' "
                                         "(U+00F3), 'ú' (U+00FA)")
        assert "sent as UCS-2, 3 segments" in advice.message
        assert "'día' as 'dia'" in advice.message
        assert advice.message.endswith("it would cost 1 segment")

    def test_carrier_words_of_every_language_are_linted(self):
        document = copy.deepcopy(DELIVERY)
        document["nodes"][1]["options"][0]["label"] = {"en": "Monday", "es": "Parar"}
        [found] = [p for p in problems(document) if "SMS keyword" in p.message]
        assert found.path == "$.nodes[1].options[0].label.es"
        assert "in Spanish" in found.message


class TestSpellingAndWords:
    def test_the_gsm7_spelling_drops_only_what_gsm7_lacks(self):
        assert sms.gsm7_spelling("¿Qué día?") == "¿Qué dia?"  # é and ¿ are GSM-7
        assert sms.gsm7_spelling("Sí, “claro” – mañana") == 'Si, "claro" - mañana'
        assert sms.gsm7_spelling("Ya está ✅") is None  # no stand-in for an emoji
        assert sms.gsm7_spelling("Plain text") is None  # GSM-7 already

    def test_a_text_in_a_language_it_lacks_falls_back_to_the_default(self):
        from engine.languages import localize

        value = {"en": "Hi", "es": "Hola"}
        assert localize(value, "es") == "Hola"
        assert localize(value, "fr") == "Hi"
        assert localize({"es": "Hola"}, "en", default="es") == "Hola"
        assert localize("Hi", "es") == "Hi"


class TestTranscriptsPerLanguage:
    @pytest.mark.parametrize("language", ["en", "es"])
    def test_each_languages_transcripts_pass_and_cover_every_node_and_edge(self, language):
        from engine.transcripts import run_transcripts
        from parley.cli import SAMPLE_RECORDS, TOPICS_DIR, read_topic, topic_files

        folder = TOPICS_DIR / "transcripts"
        spanish = sorted(folder.glob("*_es.json"))
        paths = spanish if language == "es" else sorted(
            p for p in folder.glob("*.json") if p not in spanish)
        topics = [read_topic(p) for p in topic_files((str(TOPICS_DIR),))]
        report = run_transcripts(paths, topics, sample_data=SAMPLE_RECORDS)
        assert [r.path for r in report.results if not r.passed] == []
        for topic in report.coverage.nodes:
            assert report.coverage.missed_nodes(topic) == [], topic
            assert report.coverage.missed_edges(topic) == [], topic


class TestConversationTests:
    def test_a_conversation_held_in_spanish_becomes_a_spanish_test(self, engine, store):
        from engine.insight_transcript import conversation_transcript

        with store.write():
            store.set_phone_language(PHONE, "es")
        replies = play(engine, PHONE, "entrega", "sí")
        transcript = conversation_transcript(store, replies[0].conversation_id, [DELIVERY],
                                             sample_data=None)
        assert transcript["language"] == "es"
        assert [turn["bot"] for turn in transcript["turns"]] == [
            ["¿Le va bien el viernes para su entrega?"], ["Reservado (friday)."]]


class TestLanguageWordsInTopics:
    def test_an_option_named_after_a_language_is_warned_about(self):
        document = copy.deepcopy(DELIVERY)
        document["nodes"][1]["options"][0]["label"] = {"en": "English", "es": "Inglés"}
        found = {(p.path, p.severity) for p in problems(document)
                 if "picks a language" in p.message}
        assert found == {("$.nodes[1].options[0].label.en", "warning"),
                         ("$.nodes[1].options[0].label.es", "warning")}
