"""Which topics the engine can start, and topic discovery. Imports engine.store/topic/matching.

The runtime serves published topics and notices a publish (the store's catalog revision) on
the next message, without a restart. Conversations keep the topic version they started with.
`discovery_overlaps` is the catalog-level check (two topics claiming the same keyword), used by
the designer and `parley validate`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from engine.errors import Problem, TopicNotFound
from engine.languages import localize, topic_languages
from engine.matching import normalize
from engine.store import Store
from engine.topic import TOPICS, CompiledTopic


def _discovery_words(document: dict) -> list[tuple[str, str, str]]:
    """(JSON path, word as written, normalized) of a topic's discovery keywords and phrases."""
    discovery = document.get("discovery")
    if document.get("role", "topic") != "topic" or not isinstance(discovery, dict):
        return []
    out = []
    for key in ("keywords", "phrases"):
        words = discovery.get(key)
        lists = {f"$.discovery.{key}.{code}": each for code, each in words.items()} \
            if isinstance(words, dict) else {f"$.discovery.{key}": words}
        for base, each in lists.items():
            for index, word in enumerate(each if isinstance(each, list) else []):
                if isinstance(word, str) and normalize(word):
                    out.append((f"{base}[{index}]", word, normalize(word)))
    return out


def discovery_overlaps(document: dict, others: Iterable[dict]) -> list[Problem]:
    """Warnings for each discovery keyword or phrase of `document` that another topic also has.

    A user who texts a shared word is asked to pick between the topics instead of being taken
    to one: legal when meant, but usually an accident of two authors.
    """
    mine = _discovery_words(document)
    if not mine:
        return []
    claimed: dict[str, list[str]] = {}
    for other in others:
        if not isinstance(other, dict) or other.get("id") == document.get("id"):
            continue
        shown = localize(other.get("name", other.get("id")), None,
                         default=topic_languages(other)[1])
        name = f"\u201c{shown}\u201d ({other.get('id')})"
        for _path, _word, said in _discovery_words(other):
            if name not in claimed.setdefault(said, []):
                claimed[said].append(name)
    found = []
    for path, word, said in mine:
        if said in claimed:
            topics = ", ".join(claimed[said])
            found.append(Problem(path, f"{word!r} is also a discovery word of {topics}: a user "
                                 "who texts it is asked to choose between the topics",
                                 severity="warning"))
    return found


def _every_language(words) -> list[str]:
    """Discovery words: one list, or one list per language (all of them are understood)."""
    if isinstance(words, dict):
        return [w for each in words.values() if isinstance(each, list) for w in each
                if isinstance(w, str)]
    return [w for w in words if isinstance(w, str)] if isinstance(words, list) else []


class _Snapshot:
    """An immutable view of the startable topics, swapped whole on reload."""

    def __init__(self, topics: Iterable[CompiledTopic], revision: int):
        self.revision = revision
        self.by_id = {t.id: t for t in topics}
        self.roles = {t.role: t for t in self.by_id.values() if t.role != "topic"}
        self.menu = sorted((t for t in self.by_id.values() if t.role == "topic"),
                           key=lambda t: t.name.casefold())
        # Every language some topic speaks, the most common default first.
        defaults = Counter(t.default_language for t in self.by_id.values())
        spoken = {code for t in self.by_id.values() for code in t.languages}
        self.languages = sorted(spoken, key=lambda c: (-defaults.get(c, 0), c))
        self.phrases: list[tuple[str, CompiledTopic]] = []
        self.keywords: dict[str, list[CompiledTopic]] = {}
        for topic in self.menu:
            discovery = topic.document.get("discovery", {})
            for phrase in _every_language(discovery.get("phrases", [])):
                self.phrases.append((normalize(phrase), topic))
            for keyword in _every_language(discovery.get("keywords", [])):
                self.keywords.setdefault(normalize(keyword), []).append(topic)
            for code in topic.languages:
                self.phrases.append((normalize(topic.name_in(code)), topic))


class Catalog:
    """Published topics of a store, reloaded when a publish changes the revision."""

    def __init__(self):
        self._snapshot = _Snapshot([], -1)
        self._lock = threading.Lock()

    def refresh(self, store: Store) -> None:
        revision = store.catalog_revision()
        if revision == self._snapshot.revision:
            return
        with self._lock:
            if revision == self._snapshot.revision:
                return
            topics = [TOPICS.get(document, version=version)
                      for _id, version, document in store.published_topics()]
            self._snapshot = _Snapshot(topics, revision)

    def topic(self, store: Store, topic_id: str, version: int) -> CompiledTopic:
        current = self._snapshot.by_id.get(topic_id)
        if current is not None and current.version == version:
            return current
        return TOPICS.get_stored(topic_id, version,
                                 lambda: store.topic_document(topic_id, version))

    def startable(self, topic_id: str) -> CompiledTopic | None:
        return self._snapshot.by_id.get(topic_id)

    def role(self, role: str) -> CompiledTopic | None:
        return self._snapshot.roles.get(role)

    @property
    def menu(self) -> list[CompiledTopic]:
        return self._snapshot.menu

    @property
    def languages(self) -> list[str]:
        """The languages the published topics speak, the usual default first."""
        return self._snapshot.languages

    def discover(self, text: str) -> list[CompiledTopic]:
        """Topics the text asks for, best first; several when it is unsure."""
        said = normalize(text)
        if not said:
            return []
        snapshot = self._snapshot
        scores: dict[str, float] = {}
        padded = f" {said} "
        for phrase, topic in snapshot.phrases:
            if phrase and (phrase == said or f" {phrase} " in padded):
                scores[topic.id] = scores.get(topic.id, 0) + 3 + len(phrase) / 100
        for word in set(said.split()):
            for topic in snapshot.keywords.get(word, ()):
                scores[topic.id] = scores.get(topic.id, 0) + 1
        # Multi-word keywords ("open cases") match as phrases.
        for keyword, topics in snapshot.keywords.items():
            if " " in keyword and f" {keyword} " in padded:
                for topic in topics:
                    scores[topic.id] = scores.get(topic.id, 0) + 2
        if not scores:
            return []
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        best = ranked[0][1]
        return [snapshot.by_id[topic_id] for topic_id, score in ranked if score >= best - 0.5]


class StaticCatalog(Catalog):
    """A fixed set of topic documents (transcripts, the designer's simulator, `parley chat`)."""

    def __init__(self, documents: Iterable[dict]):
        super().__init__()
        topics = [TOPICS.get(doc, version=doc.get("version", 1)) for doc in documents]
        self._snapshot = _Snapshot(topics, 0)

    def refresh(self, store: Store) -> None:
        return None

    def topic(self, store: Store, topic_id: str, version: int) -> CompiledTopic:
        topic = self._snapshot.by_id.get(topic_id)
        if topic is None:
            raise TopicNotFound(f"topic {topic_id!r} is not loaded")
        return topic
