"""Conversation tests: run transcript files through the engine and measure coverage.

A transcript lists what a user texts and the exact replies expected (schemas/transcript.schema
.json). Each transcript runs on a fresh database with the sample records, against the given
topics, with a clock that only moves when a turn says so. Imports engine modules only.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator

from engine.assembly import standard_interceptors
from engine.catalog import StaticCatalog
from engine.conversation import Engine, EngineSettings
from engine.errors import Problem, TranscriptError
from engine.messages import Inbound, Media, Reply
from engine.outbound import OutboundPolicy
from engine.sample import load_sample_data, simulated_store
from engine.store import open_store
from engine.topic import TOPICS

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "transcript.schema.json"
DEFAULT_PHONE = "+15550100001"
DEFAULT_MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0"
START_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z: transcripts never depend on today
AGENT_SESSION = "transcript-agent-session"  # a stored hash; no one signs in with it


class ManualClock:
    """Time that moves only when told to, so idle timeouts can be tested exactly."""

    def __init__(self, start: float = START_TIME):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> None:
        self.now += minutes * 60 + seconds


@dataclass
class Mismatch:
    turn: int
    said: str
    expected: list
    got: list

    def __str__(self) -> str:
        expected = "\n".join(f"      {_show(m)}" for m in self.expected) or "      (nothing)"
        got = "\n".join(f"      {_show(m)}" for m in self.got) or "      (nothing)"
        return f"  turn {self.turn + 1}, user said {self.said!r}\n    expected:\n{expected}\n" \
               f"    got:\n{got}"


@dataclass
class TranscriptResult:
    path: str
    name: str
    mismatch: Mismatch | None = None

    @property
    def passed(self) -> bool:
        return self.mismatch is None


@dataclass
class Coverage:
    """Which nodes and edges of each topic the transcripts visited."""

    nodes: dict[str, set[str]] = field(default_factory=dict)  # topic -> all node ids
    edges: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # topic -> (node, event)
    visited_nodes: dict[str, set[str]] = field(default_factory=dict)
    visited_edges: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def missed_nodes(self, topic: str) -> list[str]:
        return sorted(self.nodes[topic] - self.visited_nodes.get(topic, set()))

    def missed_edges(self, topic: str) -> list[tuple[str, str]]:
        return sorted(self.edges[topic] - self.visited_edges.get(topic, set()))

    def percent(self, topic: str) -> float:
        total = len(self.nodes[topic])
        return 100.0 * (total - len(self.missed_nodes(topic))) / total if total else 100.0


@dataclass
class Report:
    results: list[TranscriptResult]
    coverage: Coverage

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def load_transcript(path: str | Path) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TranscriptError(f"{path}: cannot read transcript: {exc}") from exc
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = [Problem(e.json_path, e.message)
              for e in Draft202012Validator(schema).iter_errors(document)]
    if errors:
        raise TranscriptError(f"{path}: " + "; ".join(str(p) for p in errors))
    return document


def expected_messages(turn: dict) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for item in turn["bot"]:
        if isinstance(item, str):
            out.append((item, ()))
        else:
            out.append((item["body"], tuple(item.get("media", ()))))
    return out


def play(transcript: dict, topics: list[dict], *, sample_data: str | Path | None,
         settings: EngineSettings | None = None, path: str = "",
         outbound: OutboundPolicy | None = None) -> Iterator[tuple[int, dict, Reply]]:
    """Play a transcript's user turns on a fresh database: (index, turn, reply) per turn."""
    clock = ManualClock()
    with tempfile.TemporaryDirectory(prefix="parley-transcript-") as folder:
        store = simulated_store(open_store(Path(folder) / "transcript.sqlite",
                                           synchronous="OFF", clock=clock))
        try:
            if sample_data:
                load_sample_data(store, sample_data)
            phone = transcript.get("phone", DEFAULT_PHONE)
            if transcript.get("user"):
                user = store.user(user_name=transcript["user"])
                if user is None:
                    raise TranscriptError(f"{path}: no sample user {transcript['user']!r}")
                with store.write():
                    store.link_phone(phone, user["id"])
            engine = Engine(store, catalog=StaticCatalog(topics), settings=settings,
                            interceptors=standard_interceptors(), outbound=outbound)
            on_duty = transcript.get("agent_on_duty", False)
            if on_duty:
                with store.write():
                    agent_id = store.add_agent("agent", "!", display_name="Transcript agent")
                    store.open_staff_session(agent_id, AGENT_SESSION, app="workspace")
            for index, turn in enumerate(transcript["turns"]):
                clock.advance(minutes=turn.get("advance_minutes", 0), seconds=1)
                if on_duty:  # the agent's workspace page stays open, so they stay present
                    with store.write():
                        store.touch_staff_session(AGENT_SESSION)
                media = tuple(Media(m.get("url", DEFAULT_MEDIA_URL), m["content_type"])
                              for m in turn.get("media", ()))
                yield index, turn, engine.process(Inbound(phone, turn["user"], media))
        finally:
            store.close()


def run_transcript(transcript: dict, topics: list[dict], *, sample_data: str | Path | None,
                   settings: EngineSettings | None = None, path: str = "",
                   coverage: Coverage | None = None,
                   outbound: OutboundPolicy | None = None) -> TranscriptResult:
    """Play one transcript on a fresh database; stop at the first turn that differs.

    `outbound` is where http data sources may GET (none: every fetch is refused).
    """
    result = TranscriptResult(path, transcript["name"])
    turns = play(transcript, topics, sample_data=sample_data, settings=settings, path=path,
                 outbound=outbound)
    try:
        for index, turn, reply in turns:
            if coverage is not None:
                _record(coverage, reply)
            got = [(m.body, tuple(m.media)) for m in reply.messages]
            expected = expected_messages(turn)
            if got != expected:
                result.mismatch = Mismatch(index, turn["user"], expected, got)
                break
    finally:
        turns.close()
    return result


def run_transcripts(paths: list[str | Path], topics: list[dict], *,
                    sample_data: str | Path | None = None,
                    settings: EngineSettings | None = None,
                    outbound: OutboundPolicy | None = None) -> Report:
    coverage = Coverage()
    for document in topics:
        compiled = TOPICS.get(document, version=document.get("version", 1))
        coverage.nodes[compiled.id] = set(compiled.nodes)
        coverage.edges[compiled.id] = {(source, event)
                                       for source, event, _t, _l in compiled.edge_list}
    results = [run_transcript(load_transcript(p), topics, sample_data=sample_data,
                              settings=settings, path=str(p), coverage=coverage,
                              outbound=outbound)
               for p in paths]
    return Report(results, coverage)


def _record(coverage: Coverage, reply) -> None:
    for topic, node in reply.visited:
        coverage.visited_nodes.setdefault(topic, set()).add(node)
    for topic, node, event in reply.traversed:
        coverage.visited_edges.setdefault(topic, set()).add((node, event))


def _show(message) -> str:
    body, media = message
    text = json.dumps(body, ensure_ascii=False)
    return f"{text} + media {list(media)}" if media else text
