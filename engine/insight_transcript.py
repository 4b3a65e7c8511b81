"""A stored conversation turned into a transcript test. No HTTP.

Imports engine.transcripts, engine.languages, engine.conversation (the redaction mark),
engine.sample and engine.store. The user's messages are taken as stored (answers to sensitive
variables are stored redacted), with phone numbers and e-mail addresses replaced and each
redacted answer replaced by a stand-in; the replies expected are what the given topics answer
to them now, on the sample records, exactly as `parley test` and the designer's Tests tab run
it, so the new test passes on the topics it was made with and fails once they answer differently.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.conversation import REDACTED, EngineSettings
from engine.errors import TranscriptError
from engine.languages import asks_for_menu, chosen_language
from engine.outbound import OutboundPolicy
from engine.sample import SAMPLE_RECORDS
from engine.store import Store, parse_iso
from engine.transcripts import play

STAND_IN = "xxxx"  # what a redacted answer becomes in the test
FAKE_EMAIL = "user@example.com"
FAKE_DIGITS = "5550100"  # repeated: a run of 7+ digits keeps its shape, not its digits
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_DIGIT_RUN = re.compile(r"\d(?:[\d\s().\-]*\d)?")


def scrub(text: str) -> str:
    """`text` with e-mail addresses and phone-number-like runs of 7 digits or more replaced.

    Shorter numbers (a menu choice, a quantity) stay, so the test still answers the same."""
    if text.strip() == REDACTED:
        return STAND_IN
    text = _EMAIL.sub(FAKE_EMAIL, text)

    def fake(match: re.Match) -> str:
        run = match.group(0)
        digits = sum(c.isdigit() for c in run)
        if digits < 7:
            return run
        filler = iter((FAKE_DIGITS * (digits // len(FAKE_DIGITS) + 1))[:digits])
        return "".join(next(filler) if c.isdigit() else c for c in run)

    return _DIGIT_RUN.sub(fake, text)


def _starting_language(store: Store, conversation_id: int, said: list[dict]) -> str | None:
    """The language the phone had chosen before the conversation, when no message of it
    chose one (then the replay chooses it as the user did)."""
    if any(chosen_language(m["body"] or "") or asks_for_menu(m["body"] or "") for m in said):
        return None
    return store.conversation_language(conversation_id)


def conversation_transcript(store: Store, conversation_id: int, topics: list[dict], *,
                            name: str | None = None,
                            sample_data: str | Path | None = SAMPLE_RECORDS,
                            settings: EngineSettings | None = None,
                            outbound: OutboundPolicy | None = None,
                            agent_on_duty: bool = False) -> dict:
    """A transcript (schemas/transcript.schema.json) of conversation `conversation_id`,
    with the replies `topics` give to it now. The phone is the transcripts' default one and
    no account is linked."""
    messages = store.messages(conversation_id, limit=1000)
    said = [m for m in messages if m["direction"] == "in" and m["sender"] == "user"]
    if not said:
        raise TranscriptError(f"conversation {conversation_id} has no message from the user "
                              "to replay: open one where the user texted the bot")
    turns, previous = [], None
    for message in said:
        turn: dict = {"user": scrub(message["body"] or "")}
        at = parse_iso(message["created_at"])
        if previous is not None and at - previous > 60:
            # Long pauses matter (idle timeouts); the transcript clock adds 1 s a turn itself.
            turn["advance_minutes"] = round((at - previous) / 60, 2)
        previous = at
        if message["media"]:
            # Only the kind of file: a stored URL names the account and the message.
            turn["media"] = [{"content_type": m["content_type"]} for m in message["media"]]
        turn["bot"] = []
        turns.append(turn)
    topic_ids = list(dict.fromkeys(p["topic_id"] for p in store.conversation_paths(
        conversation_id)))
    transcript: dict = {
        "name": name or f"Conversation {conversation_id}",
        "description": "Made from a stored conversation: phone numbers and sensitive "
                       "answers replaced.",
        **({"topics": topic_ids} if topic_ids else {}),
        **({"agent_on_duty": True} if agent_on_duty else {}),
        **({"language": language} if (language := _starting_language(store, conversation_id,
                                                                      said)) else {}),
        "turns": turns,
    }
    replies = play(transcript, topics, sample_data=sample_data, settings=settings,
                   outbound=outbound)
    try:
        for index, _turn, reply in replies:
            turns[index]["bot"] = [{"body": m.body, "media": list(m.media)} if m.media
                                   else m.body for m in reply.messages]
    finally:
        replies.close()
    return transcript


def save_conversation_test(store: Store, conversation_id: int, topic_id: str,
                           topics: list[dict], *, name: str | None = None,
                           author: str | None = None, **options) -> int:
    """Make the transcript and keep it with topic `topic_id`'s tests; returns its id."""
    transcript = conversation_transcript(store, conversation_id, topics, name=name, **options)
    with store.write():
        return store.save_transcript(topic_id, transcript["name"], transcript, author=author)
