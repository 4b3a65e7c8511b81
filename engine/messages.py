"""What goes in and out of the engine: SMS-shaped values. Imports nothing from Parley."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type.lower().startswith("image/")


@dataclass(frozen=True)
class Inbound:
    """One message a user sent."""

    phone: str
    body: str = ""
    media: tuple[Media, ...] = ()
    sid: str | None = None
    to: str | None = None


@dataclass(frozen=True)
class Outbound:
    """One message to send: a body, optional media URLs, and what produced it."""

    body: str
    media: tuple[str, ...] = ()
    kind: str = "text"  # text, image, link, card, prompt, system
    node: str | None = None


@dataclass
class Reply:
    """What the engine did with one inbound message."""

    conversation_id: int
    messages: list[Outbound] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    topic: str | None = None
    node: str | None = None
    mode: str = "idle"
    visited: list[tuple[str, str]] = field(default_factory=list)  # (topic, node)
    traversed: list[tuple[str, str, str]] = field(default_factory=list)  # (topic, node, event)
    message_ids: list[int] = field(default_factory=list)
