"""A topic's templates cannot freeze the runtime (security review, issue 12 item 3).

Texts are Jinja2 templates and conditions are expressions, rendered while the message's
transaction holds the database's write lock. Every way the review found to make them work
without limit (nested loops, huge ranges, repeating a text or list, `**`, filters and formats
given huge widths, growth by `replace` or `~`) fails in milliseconds with a clear error when
it renders, and is refused by the validator with its JSON path when it can be seen before it
runs. A hostile topic stored without validation gets the user the engine's error reply and a
person, while other phones are answered as usual; ordinary templates render as plain Jinja2
renders them.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine import template_sandbox
from engine.catalog import StaticCatalog
from engine.conversation import Engine, Texts
from engine.messages import Inbound
from engine.store import Store, open_store
from engine.templates import RenderError, TemplateLimitError, compile_expression, render
from engine.transcripts import ManualClock
from engine.validation import problems
from tests.webhook.conftest import (
    Twilio,
    bodies,
    load_examples,
    publish,
    runtime_config,
    sign_in_agent,
)
from webhook import create_app

NESTED = ("{% for a in range(9999) %}{% for b in range(9999) %}{% for c in range(9999) %}"
          "{% endfor %}{% endfor %}{% endfor %}")

# (id, template, what the render says, what the validator says)
TEMPLATE_ATTACKS = [
    ("nested-loops", NESTED, "takes more than 100,000 steps", "nested loops would run"),
    ("huge-range", "{% for i in range(10**8) %}{{ i }}{% endfor %}",
     "range() would make 100,000,000 numbers", "range() would make 100,000,000 numbers"),
    ("text-times-huge", '{{ "x" * 10**9 }}', "repeating a text 1,000,000,000 times",
     "repeating a text 1,000,000,000 times"),
    ("power", "{{ 10 ** 100000 }}", "would have about", "would have about"),
    ("center", '{{ "x"|center(10**9) }}', "the width given to center is 1,000,000,000",
     "the width given to center is 1,000,000,000"),
    ("indent", '{{ ("line\\n" * 2000)|indent(10000) }}', "the indented text would be",
     "the indented text would be"),
    ("wordwrap", '{{ ("word " * 3000)|wordwrap(1, wrapstring="<br>" * 10) }}',
     "the wrapped text would be", "the wrapped text would be"),
    ("join-range", '{{ range(10000)|join(", ") }}', "the joined text would be",
     "the joined text would be"),
    ("format-filter", '{{ "%999999999s"|format("x") }}', "a width in a '%' format is",
     "a width in a '%' format is"),
    ("percent", '{{ "%999999999d" % 1 }}', "a width in a '%' format is",
     "a width in a '%' format is"),
    ("str-format", '{{ "{:>999999999}".format("x") }}', "a width in a format is",
     "a width in a format is"),
    ("ljust", '{{ "x".ljust(10**9) }}', "the width given to ljust() is",
     "the width given to ljust() is"),
    ("replace", '{{ ("x" * 10000)|replace("x", "yyyy") }}', "the replaced text would be",
     "the replaced text would be"),
    ("tojson-indent", '{{ [[1]]|tojson(indent=10**6) }}', "tojson's indent", "tojson's indent"),
]
# (id, expression, what the evaluation says, what the validator says)
EXPRESSION_ATTACKS = [
    ("list-times-huge", "[1] * 10**8", "repeating a list 100,000,000 times",
     "repeating a list 100,000,000 times"),
    ("range-in-condition", "range(10**7)|list|length > 0", "range() would make 10,000,000",
     "range() would make 10,000,000"),
    ("power", "7 ** 99999", "would have about", "would have about"),
]
# Attacks that only show when the template runs (the values come from the conversation or
# grow at run time): the render stops them.
RUNTIME_ONLY_ATTACKS = [
    ("doubling-namespace", '{% set ns = namespace(s="xx") %}{% for i in range(64) %}'
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", "the text joined with '~'"),
    ("doubling-macro", "{% macro grow(s) %}{{ grow(s ~ s) }}{% endmacro %}{{ grow(word) }}",
     "the text joined with '~'"),
    ("captured-output", '{% set s %}{% for i in range(10000) %}{{ word * 50 }}{% endfor %}'
     "{% endset %}{{ s|length }}", "the text written inside macros and blocks"),
    ("output", "{% for i in range(10000) %}{{ word }}{% endfor %}", "longer than 20,000"),
    ("width-from-the-user", "{{ word|center(n) }}", "the width given to center"),
    ("exponent-from-the-user", "{{ 2 ** n }}", "would have about"),
    ("times-from-the-user", "{{ word * n }}", "repeating a text"),
    ("sum-of-lists", "{{ ([[0] * 1000] * 1000)|sum(start=[]) }}", "the sum would be"),
    ("method-not-allowed", '{{ (1).to_bytes(n, "big") }}', "may not call int.to_bytes()"),
    ("lookups", "{% for a in range(9999) %}{% if a.real.real.real.real.real.real.real.real"
     ".real.real < 0 %}x{% endif %}{% endfor %}", "takes more than 100,000 steps"),
]
CONTEXT = {"word": "hello", "n": 10**9}
RUN_30_000_STEPS = "{% for i in range(300) %}{% for j in range(100) %}{% endfor %}{% endfor %}done"


def _refusal(call):
    with pytest.raises(TemplateLimitError) as caught:
        call()
    return str(caught.value)


class TestRenderingStopsAtTheLimits:
    @pytest.fixture(autouse=True)
    def deadline_out_of_the_way(self, monkeypatch):
        # The wall-clock deadline is only a backstop: each attack must be stopped by the limit
        # that names it (steps, sizes), which is what keeps a render fast on any machine.
        # On a busy machine the deadline could otherwise fire first and hide which one did.
        monkeypatch.setattr(template_sandbox, "MAX_SECONDS", 60)

    @pytest.mark.parametrize(("source", "said"), [(a[1], a[2]) for a in TEMPLATE_ATTACKS],
                             ids=[a[0] for a in TEMPLATE_ATTACKS])
    def test_a_template_attack_fails_fast_with_a_clear_error(self, source, said):
        message = _refusal(lambda: render(source, CONTEXT))
        assert said in message
        assert message.startswith("template ")

    @pytest.mark.parametrize(("source", "said"), [(a[1], a[2]) for a in EXPRESSION_ATTACKS],
                             ids=[a[0] for a in EXPRESSION_ATTACKS])
    def test_an_expression_attack_fails_fast_with_a_clear_error(self, source, said):
        message = _refusal(lambda: compile_expression(source)(CONTEXT))
        assert said in message

    @pytest.mark.parametrize(("source", "said"), [(a[1], a[2]) for a in RUNTIME_ONLY_ATTACKS],
                             ids=[a[0] for a in RUNTIME_ONLY_ATTACKS])
    def test_an_attack_known_only_at_run_time_fails_fast(self, source, said):
        assert said in _refusal(lambda: render(source, CONTEXT))

    def test_each_render_has_its_own_budget(self):
        # 9,000 steps a render: far more than one budget if the count carried over.
        source = "{% for i in range(9000) %}{% endfor %}ok"
        assert [render(source, {}) for _ in range(30)] == ["ok"] * 30

    def test_renders_on_many_threads_count_their_own_steps(self):
        # 20 renders of 30,300 steps on 4 threads at once: 6 budgets' worth if shared.
        results: list[str] = []

        def work():
            for _ in range(5):
                results.append(render(RUN_30_000_STEPS, {}))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["done"] * 20


def _topic(*, text: str = "Hello.", value: str = "1", when: str = "true") -> dict:
    return {
        "id": "limits", "name": "Limits", "version": 1, "discovery": {"keywords": ["limits"]},
        "variables": {"word": {"type": "string"}, "n": {"type": "number"},
                      "x": {"type": "string"}},
        "start": "set",
        "nodes": [
            {"id": "set", "type": "flow.set", "values": {"x": value}, "next": "branch"},
            {"id": "branch", "type": "flow.branch", "conditions": [{"when": when,
                                                                     "next": "say"}],
             "otherwise": "say"},
            {"id": "say", "type": "response.text", "text": text, "next": "bye"},
            {"id": "bye", "type": "flow.end", "ask_anything_else": False},
        ],
    }


def _errors_at(doc: dict, path: str) -> list[str]:
    return [p.message for p in problems(doc) if p.severity == "error" and p.path == path]


class TestTheValidatorRefusesThem:
    def test_the_topic_used_here_is_valid_without_an_attack(self):
        assert [p for p in problems(_topic()) if p.severity == "error"] == []

    @pytest.mark.parametrize(("source", "said"), [(a[1], a[3]) for a in TEMPLATE_ATTACKS],
                             ids=[a[0] for a in TEMPLATE_ATTACKS])
    def test_a_text_attack_is_an_error_at_its_path(self, source, said):
        errors = _errors_at(_topic(text=source), "$.nodes[2].text")
        assert any(said in error for error in errors), errors

    @pytest.mark.parametrize(("source", "said"), [(a[1], a[3]) for a in EXPRESSION_ATTACKS],
                             ids=[a[0] for a in EXPRESSION_ATTACKS])
    def test_an_expression_attack_is_an_error_at_its_path(self, source, said):
        in_value = _errors_at(_topic(value=source), "$.nodes[0].values.x")
        in_condition = _errors_at(_topic(when=source), "$.nodes[1].conditions[0].when")
        assert any(said in error for error in in_value), in_value
        assert any(said in error for error in in_condition), in_condition

    @pytest.mark.parametrize("source", ["{{ 2 ** n }}", "{{ n ** 1000 }}"])
    def test_an_exponent_must_be_a_small_number_written_in_the_template(self, source):
        errors = _errors_at(_topic(text=source), "$.nodes[2].text")
        assert any("write the exponent as a number, at most 64" in e for e in errors), errors

    def test_filters_the_sandbox_does_not_offer_are_errors(self):
        errors = _errors_at(_topic(text="{{ word|uper }} {{ word|urlize }}"), "$.nodes[2].text")
        assert "there is no filter named 'uper' (did you mean 'upper'?)" in errors
        assert any("there is no filter named 'urlize'" in e for e in errors)

    @pytest.mark.parametrize("source", [
        "{% for i in range(100) %}{% for j in range(100) %}{{ i * j }}{% endfor %}{% endfor %}",
        "{{ word * 3 }} {{ n ** 2 }} {{ range(10)|join(', ') }} {{ word|center(20) }}",
        '{{ "%05d"|format(n) }} {{ "{:>8}".format(word) }} {{ word|replace("l", "L") }}',
    ])
    def test_ordinary_templates_are_not_refused(self, source):
        assert _errors_at(_topic(text=source), "$.nodes[2].text") == []


HOSTILE_TEXT = NESTED
HOSTILE_CONDITION = "range(10000)|join(', ')|length > 0"
HOSTILE_VALUE = "[1] * 10**8"


def _hostile(topic_id: str, *, text: str = "Hello.", when: str = "true",
             value: str = "1") -> dict:
    doc = _topic(text=text, when=when, value=value)
    return {**doc, "id": topic_id, "discovery": {"keywords": ["hostile"]}}


@pytest.fixture
def engine_store(tmp_path):
    store = open_store(tmp_path / "parley.sqlite", clock=ManualClock())
    yield store
    store.close()


class TestTheEngineTakesItsErrorPath:
    @pytest.mark.parametrize("where", [{"text": HOSTILE_TEXT}, {"when": HOSTILE_CONDITION},
                                       {"value": HOSTILE_VALUE}],
                             ids=["text", "condition", "value"])
    def test_the_user_gets_the_error_reply_and_a_person(self, engine_store, where):
        engine = Engine(engine_store, catalog=StaticCatalog([_hostile("hostile", **where)]))
        reply = engine.process(Inbound("+15550106666", "hostile"))
        assert [m.body for m in reply.messages] == [Texts().error]
        assert "error:TemplateLimitError" in reply.events
        assert reply.mode == "handoff"


class TestTheRuntimeKeepsAnsweringEveryone:
    """Through POST /twilio/sms, with a hostile topic stored as if no validator had looked."""

    @pytest.fixture
    def app(self, tmp_path):
        return create_app(runtime_config(tmp_path))

    @pytest.fixture
    def store(self, app):
        store = Store(app.config["DATABASE"])
        yield store
        store.close()

    def _store_hostile(self, store: Store, **where: str) -> None:
        # A unique id: compiled topics are cached per process by id and version.
        topic_id = f"hostile_{uuid.uuid4().hex[:8]}"
        publish(store, _hostile(topic_id))
        # Written straight into the database, as by an older Parley or by hand: no validator
        # (nor any check at publishing) ever saw it.
        with store.write():
            store.conn.execute("UPDATE topic_versions SET document = ? WHERE topic_id = ?",
                               (json.dumps(_hostile(topic_id, **where)), topic_id))

    @pytest.mark.parametrize("where", [{"text": HOSTILE_TEXT}, {"value": HOSTILE_VALUE}],
                             ids=["text", "value"])
    def test_a_hostile_template_gets_the_error_path_while_another_phone_is_served(
            self, app, store, where):
        load_examples(store)
        sign_in_agent(store)
        self._store_hostile(store, **where)
        answers: dict[str, list[str]] = {}

        def text(phone: str, body: str) -> None:
            answers[phone] = bodies(Twilio(app.test_client()).text(phone, body))

        hostile = threading.Thread(target=text, args=("+15550105551", "hostile"), daemon=True)
        other = threading.Thread(target=text, args=("+15550105552", "my install appointment"),
                                 daemon=True)
        hostile.start()
        other.start()
        hostile.join(timeout=30)
        other.join(timeout=30)
        assert not hostile.is_alive() and not other.is_alive(), "the runtime froze"
        assert answers["+15550105551"] == [Texts().error]
        assert answers["+15550105552"] == [
            "Your install appointment is scheduled for Dec 25th between 10am and 1pm. Is this "
            "ok? Reply YES to confirm or CHANGE to pick another time."]
        assert store.open_conversation("+15550105551").state["handoff_reason"] == "engine error"


# -- Ordinary templates render as plain Jinja2 renders them --------------------------------

_PLAIN = ImmutableSandboxedEnvironment(undefined=Undefined, autoescape=False)
_PIECES = [
    "{{ word }}", "{{ n + 1 }}", "{{ n * 3 - 2 }}", "{{ n // 4 }}", "{{ n % 7 }}",
    "{{ (n ** 2) // 3 }}", "{{ -n }}", "{{ word|upper }}", "{{ word|title }}",
    "{{ items|join(', ') }}", "{{ items|length }}", "{{ items|map('upper')|join }}",
    '{{ "%s-%03d"|format(word, n) }}', '{{ "%5s|" % word }}', '{{ "{:>8}".format(word) }}',
    '{{ word ~ "!" ~ n }}', "{{ word.strip().lower() }}", "{{ case.number }}",
    "{{ missing }}", "{{ word|center(12) }}", "{{ word|replace('a', 'b') }}",
    "{{ word * 2 }}", "{{ items + ['z'] }}", "{{ range(n % 5)|sum }}", "{{ range(3)|list }}",
    "{{ items|sort|first }}", "{{ word|wordwrap(5) }}", "{{ word|indent(2, true) }}",
    "{{ items|batch(2)|list }}", "{{ word|truncate(9) }}", "{{ case|tojson }}",
    "{% for i in items %}{{ loop.index }}:{{ i }}{% if not loop.last %},{% endif %}"
    "{% endfor %}",
    "{% for i in items if i > 'c' %}[{{ i }}]{% else %}none{% endfor %}",
    "{% if n > 3 %}big{% elif n > 1 %}some{% else %}small{% endif %}",
    "{% set ns = namespace(t='') %}{% for i in items %}{% set ns.t = ns.t ~ i %}{% endfor %}"
    "{{ ns.t }}",
    "{% macro shout(s) %}{{ s|upper }}!{% endmacro %}{{ shout(word) }}",
    "{% set block %}{{ word }}/{{ n }}{% endset %}{{ block }}",
    "{% filter upper %}{{ word }} x{% endfilter %}",
]
_EXPRESSIONS = [
    "n * 2 + 1", "word ~ 'x'", "items|length > 2", "n ** 2 - n", "word in items",
    "n % 2 == 0 and word", "items[0] if items else 'none'", "case.number", "missing",
    "[n] * 3", "word * 2", "(n, word)", "n > 3 or not items", "items|join('-')",
]
_TEXT = st.text(alphabet=st.sampled_from("abc XYZ.,!?'-\n0123456789éß"), max_size=12)
_CONTEXTS = st.fixed_dictionaries({
    "word": _TEXT,
    "n": st.integers(min_value=-50, max_value=500),
    "items": st.lists(st.text(alphabet="abcdxyz", min_size=1, max_size=5), max_size=6),
    "case": st.fixed_dictionaries({"number": st.from_regex(r"CS00\d{5}", fullmatch=True)}),
})


class TestOrdinaryTemplatesRenderAsJinjaDoes:
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(first=st.sampled_from(_PIECES),
           pieces=st.lists(st.one_of(st.sampled_from(_PIECES), _TEXT), max_size=6),
           context=_CONTEXTS)
    def test_a_template_renders_the_same_text(self, first, pieces, context):
        # (Text without markup skips Jinja altogether, on purpose: it is sent as written.)
        source = "".join([*pieces[:2], first, *pieces[2:]])
        assert render(source, context) == _PLAIN.from_string(source).render(context)

    @settings(max_examples=100, deadline=None)
    @given(source=st.sampled_from(_EXPRESSIONS), context=_CONTEXTS)
    def test_an_expression_gives_the_same_value(self, source, context):
        expected = _PLAIN.compile_expression(source, undefined_to_none=True)(**context)
        assert compile_expression(source)(context) == expected


class TestUrlTemplates:
    """A data source's URL template runs in the same bounded sandbox as texts."""

    def test_a_runaway_url_template_fails_with_the_limit_named(self):
        from engine.datasources import render_url

        with pytest.raises(RenderError, match="url template"):
            render_url("https://api.example.com/{% for i in range(9000) %}{% for j in "
                       "range(9000) %}{% endfor %}{% endfor %}", {})
        with pytest.raises(RenderError, match="url template"):
            render_url("https://api.example.com/{{ 'x' * 10**9 }}", {})

    def test_ordinary_url_templates_still_encode_each_value(self):
        from engine.datasources import render_url

        assert render_url("https://api.example.com/orders/{{ n }}?q={{ q }}",
                          {"n": "1/../x", "q": "a b&c"}) == \
            "https://api.example.com/orders/1%2F..%2Fx?q=a%20b%26c"
