"""The example topics, played end to end through POST /twilio/sms as Twilio sends them.

Every transcript in topics/transcripts (the seven example conversations: the assistant, the
install appointment, open cases, the purchase follow-up, reporting an issue, the router on
fire, the serial number) runs against a fresh runtime: each turn is Twilio's signed form, each
answer is the TwiML. A photo (MMS) comes from a loopback server standing in for Twilio's media
host; the worker downloads it afterwards, off the request path.

The runtime runs with its features as deployed: account linking configured, and a live agent
signed in when the transcript says one is on duty (`agent_on_duty`). Transcripts are written
against the same features (engine.assembly), so every turn must read exactly the same here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from engine.sample import SIMULATED_CASE_PREFIX
from engine.store import Store
from engine.transcripts import DEFAULT_PHONE, ManualClock, expected_messages, load_transcript
from tests.webhook.conftest import (
    ACCOUNT_SID,
    PUBLIC_URL,
    ROOT,
    Twilio,
    agent_still_here,
    load_examples,
    new_sid,
    replies,
    runtime_config,
    sign_in_agent,
)
from tests.webhook.servers import MediaServer
from webhook import create_app
from webhook.worker import Worker

TRANSCRIPTS = sorted((ROOT / "topics" / "transcripts").glob("*.json"))

@pytest.fixture(scope="module")
def label_photo(tmp_path_factory) -> bytes:
    """A JPEG "photo" of the device label, drawn by Graphviz."""
    out = tmp_path_factory.mktemp("photo") / "label.jpg"
    subprocess.run(["dot", "-Tjpg", str(ROOT / "topics/media/serial-number.dot"), "-o",
                    str(out)], check=True)
    return out.read_bytes()


@pytest.fixture
def media_server():
    with MediaServer() as server:
        yield server


def real_case_numbers(body: str) -> str:
    return re.sub(rf"\b{SIMULATED_CASE_PREFIX}(?=\d{{7}}\b)", Store.case_prefix, body)


def absolute(url: str) -> str:
    return PUBLIC_URL + url if url.startswith("/") else url


def test_every_example_topic_has_transcripts():
    # Each in English and Spanish (`_es`), plus those about choosing a language.
    groups = {path.stem.removesuffix("_es").rsplit("_", 1)[0] for path in TRANSCRIPTS}
    assert groups == {"assistant", "install_appointment", "open_cases", "purchase_followup",
                      "report_issue", "router_fire", "serial_number", "languages"}
    spanish = {path.stem.removesuffix("_es") for path in TRANSCRIPTS if path.stem.endswith("_es")}
    assert spanish == {path.stem for path in TRANSCRIPTS
                       if not path.stem.endswith("_es") and not path.stem.startswith("languages")}


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_transcript_through_the_webhook(path: Path, tmp_path, database_url, media_server,
                                        label_photo):
    transcript = load_transcript(path)
    clock = ManualClock()
    app = create_app(runtime_config(tmp_path, DATABASE=database_url, CLOCK=clock,
                                    PIN_PEPPER="p" * 32,
                                    MEDIA_TEST_HOSTS=[media_server.netloc]))
    store = Store(app.config["DATABASE"], clock=clock)
    load_examples(store)
    on_duty = transcript.get("agent_on_duty", False)
    if on_duty:
        sign_in_agent(store)
    phone = transcript.get("phone", DEFAULT_PHONE)
    if transcript.get("user"):
        with store.write():
            store.link_phone(phone, store.user(user_name=transcript["user"])["id"])
    if transcript.get("language"):  # the phone chose it before the transcript starts
        with store.write():
            store.set_phone_language(phone, transcript["language"])
    twilio = Twilio(app.test_client())
    served: dict[str, tuple[str, bytes]] = {}
    for number, turn in enumerate(transcript["turns"]):
        clock.advance(minutes=turn.get("advance_minutes", 0), seconds=1)
        if on_duty:
            agent_still_here(store)
        sid = new_sid("MM" if turn.get("media") else "SM")
        media = []
        for index, item in enumerate(turn.get("media", ())):
            location = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{index}"
            content = label_photo if item["content_type"].startswith("image/") else b"hello"
            media_server.files[location] = served[location] = (item["content_type"], content)
            media.append((media_server.base_url + location, item["content_type"]))
        response = twilio.text(phone, turn["user"], media=tuple(media), sid=sid)
        # Transcripts number the cases they open as simulations do (SIM...); the real runtime
        # numbers them as real cases (CS...).
        expected = [(real_case_numbers(body), [absolute(url) for url in urls])
                    for body, urls in expected_messages(turn)]
        got = replies(response)
        if any(not kind.startswith("image/") for _url, kind in media):
            # The webhook tells the user first which files it did not keep (the engine,
            # which the transcript describes, knows nothing of what is fetched).
            notice, _media = got.pop(0)
            said = {"es": "No pude guardar el archivo de texto"}.get(
                transcript.get("language"), "I couldn't keep the text file")
            assert notice.startswith(said), notice  # in the conversation's language
        assert got == expected, f"turn {number + 1}: {turn['user']!r}"

    # Nothing was fetched while answering; the worker downloads the images afterwards.
    assert media_server.requests == []
    Worker(app).drain()
    fetched = {r.path for r in media_server.requests}
    assert fetched == {p for p, (kind, _c) in served.items() if kind.startswith("image/")}
    for request in media_server.requests:
        assert request.headers["Authorization"].startswith("Basic ")
    for message in store.conn.execute(
            "SELECT id FROM messages WHERE direction = 'in' AND media IS NOT NULL"):
        for item in store.message(message[0])["media"]:
            location = item["url"].removeprefix(media_server.base_url)
            if item["content_type"].startswith("image/"):
                # Photos are kept in the database, where every node finds them.
                assert store.media_file(item["file"])["data"] == served[location][1]
                assert item["bytes"] == len(label_photo)
            else:
                assert "not an image" in item["error"] and "file" not in item
    store.close()


def test_a_topic_image_is_fetchable_where_the_twiml_says(twilio, store):
    load_examples(store)
    [(caption, [url]), _prompt] = replies(twilio.text("+15550100042", "serial number"))
    assert url == f"{PUBLIC_URL}/media/serial-number.png"
    image = twilio.client.get(url.removeprefix(PUBLIC_URL))
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.get_data().startswith(b"\x89PNG")
