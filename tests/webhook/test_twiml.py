"""The runtime writes its TwiML answers itself (webhook/views.render_twiml), for speed: they
must be exactly what twilio's own MessagingResponse would write, whatever the text."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.messaging_response import Message, MessagingResponse

from engine.messages import Outbound
from webhook.views import render_twiml

ROOT = "https://parley.example.com"
SETTINGS = SimpleNamespace(absolute_url=lambda url, base: base + url if url.startswith("/")
                           else url)

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
outbounds = st.builds(
    Outbound, texts,
    st.lists(st.one_of(st.just("/media/serial-number.png"), texts.map(lambda t: "/media/" + t),
                       st.just("https://cdn.example.com/a.png?x=1&y=\"2\"")),
             max_size=3).map(tuple))


def twilio_rendering(messages: list[Outbound], ids: list[int], root: str) -> str:
    response = MessagingResponse()
    for message, message_id in zip(messages, ids, strict=True):
        element = Message(action=f"{root}/twilio/status?message={message_id}")
        if message.media:
            if message.body:
                element.body(message.body)
            for url in message.media:
                element.media(SETTINGS.absolute_url(url, base=root))
        else:
            element.value = message.body
        response.append(element)
    return str(response)


class TestTwiML:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(outbounds, max_size=4),
           st.sampled_from([ROOT, "http://127.0.0.1:8000", 'https://x.example/a&b"\t\n']))
    def test_the_same_as_twilios_own_rendering(self, messages, root):
        ids = list(range(1, len(messages) + 1))
        assert render_twiml(messages, ids, root=root, settings=SETTINGS) == \
            twilio_rendering(messages, ids, root)

    def test_text_images_and_an_empty_answer(self):
        messages = [Outbound("Fish & chips <3"), Outbound("", ("/media/a.png",)),
                    Outbound("Here:", ("/media/b.png",))]
        twiml = render_twiml(messages, [7, 8, 9], root=ROOT, settings=SETTINGS)
        assert twiml == (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            f'<Message action="{ROOT}/twilio/status?message=7">Fish &amp; chips &lt;3</Message>'
            f'<Message action="{ROOT}/twilio/status?message=8"><Media>{ROOT}/media/a.png'
            '</Media></Message>'
            f'<Message action="{ROOT}/twilio/status?message=9"><Body>Here:</Body>'
            f'<Media>{ROOT}/media/b.png</Media></Message></Response>')
        assert render_twiml([], [], root=ROOT, settings=SETTINGS) == str(MessagingResponse())
