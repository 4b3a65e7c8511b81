"""Topics, their versions and what is published. Imports engine.errors, engine.languages,
engine.store.values, and engine.validation to refuse publishing a topic with errors."""

from __future__ import annotations

import json

from engine.errors import TopicNotFound
from engine.languages import localize, topic_languages
from engine.store.values import dumps


def topic_name(document: dict) -> str:
    """A topic's name as listed to authors: in its default language."""
    name = localize(document.get("name", document["id"]), None,
                    default=topic_languages(document)[1])
    return name if isinstance(name, str) else document["id"]


class TopicsSql:
    """Topic documents, drafts and publishing.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def save_topic_version(self, document: dict, *, author: str | None = None,
                           note: str | None = None, errors: int = 0, warnings: int = 0) -> int:
        """Store `document` as the topic's next draft version and return its number."""
        self._require_write()
        topic_id, now = document["id"], self.now()
        name = topic_name(document)
        row = self.conn.execute(
            "SELECT latest_version FROM topics WHERE id = ?", (topic_id,)
        ).fetchone()
        version = (row[0] if row else 0) + 1
        if row:
            self.conn.execute(
                "UPDATE topics SET name = ?, role = ?, latest_version = ?, updated_at = ?,"
                " deleted_at = NULL WHERE id = ?",
                (name, document.get("role", "topic"), version, now,
                 topic_id),
            )
        else:
            self.conn.execute(
                "INSERT INTO topics (id, name, role, latest_version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (topic_id, name, document.get("role", "topic"),
                 version, now, now),
            )
        self.conn.execute(
            "INSERT INTO topic_versions (topic_id, version, document, author, note, created_at,"
            " errors, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (topic_id, version, dumps(document), author, note, now, errors, warnings),
        )
        return version

    def publish_topic_version(self, topic_id: str, version: int, *, by: str | None = None) -> None:
        """Make `version` the one the runtime serves; running conversations keep theirs.

        Raises TopicError (listing every error) when the version does not validate, whoever
        calls: the CLI, the designer, a script.
        """
        # Imported here: the validator is pure (it never imports the store), and only
        # publishing needs it.
        from engine.validation import check

        self._require_write()
        row = self.conn.execute(
            "SELECT document FROM topic_versions WHERE topic_id = ? AND version = ?",
            (topic_id, version),
        ).fetchone()
        if row is None:
            raise TopicNotFound(f"topic {topic_id!r} has no version {version}")
        check(json.loads(row[0]), source=f"version {version} of topic {topic_id!r}")
        now = self.now()
        self.conn.execute(
            "UPDATE topic_versions SET published_at = ?, published_by = ?"
            " WHERE topic_id = ? AND version = ?",
            (now, by, topic_id, version),
        )
        self.conn.execute(
            "UPDATE topics SET published_version = ?, updated_at = ? WHERE id = ?",
            (version, now, topic_id),
        )
        self._bump_catalog()

    def unpublish_topic(self, topic_id: str) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE topics SET published_version = NULL, updated_at = ? WHERE id = ?",
            (self.now(), topic_id),
        )
        self._bump_catalog()

    def delete_topic(self, topic_id: str) -> None:
        """Hide a topic (its versions stay, so running conversations can finish)."""
        self._require_write()
        self.conn.execute(
            "UPDATE topics SET deleted_at = ?, published_version = NULL WHERE id = ?",
            (self.now(), topic_id),
        )
        self._bump_catalog()

    def rename_topic(self, topic_id: str, new_id: str) -> None:
        self._require_write()
        self.conn.execute("UPDATE topics SET id = ? WHERE id = ?", (new_id, topic_id))

    def topic_document(self, topic_id: str, version: int | None = None) -> dict:
        """The stored document of a version (the latest when `version` is None)."""
        if version is None:
            row = self.conn.execute(
                "SELECT v.document FROM topics t JOIN topic_versions v"
                " ON v.topic_id = t.id AND v.version = t.latest_version WHERE t.id = ?",
                (topic_id,),
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT document FROM topic_versions WHERE topic_id = ? AND version = ?",
                (topic_id, version),
            ).fetchone()
        if row is None:
            what = f"version {version} of topic" if version else "topic"
            raise TopicNotFound(f"no {what} {topic_id!r} is stored")
        return json.loads(row[0])

    def topic_document_text(self, topic_id: str, version: int) -> str:
        row = self.conn.execute(
            "SELECT document FROM topic_versions WHERE topic_id = ? AND version = ?",
            (topic_id, version),
        ).fetchone()
        if row is None:
            raise TopicNotFound(f"no version {version} of topic {topic_id!r} is stored")
        return row[0]

    def published_topics(self) -> list[tuple[str, int, dict]]:
        """(topic id, version, document) of every published topic."""
        rows = self.conn.execute(
            "SELECT t.id, t.published_version, v.document FROM topics t JOIN topic_versions v"
            " ON v.topic_id = t.id AND v.version = t.published_version"
            " WHERE t.deleted_at IS NULL ORDER BY t.id"
        ).fetchall()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def latest_topics(self) -> list[tuple[str, dict]]:
        """(topic id, document) of the latest version, draft or not, of every topic that is
        not deleted."""
        rows = self.conn.execute(
            "SELECT t.id, v.document FROM topics t JOIN topic_versions v"
            " ON v.topic_id = t.id AND v.version = t.latest_version"
            " WHERE t.deleted_at IS NULL ORDER BY t.id"
        ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def list_topics(self, *, include_deleted: bool = False) -> list[dict]:
        where = "" if include_deleted else "WHERE t.deleted_at IS NULL"
        rows = self.conn.execute(
            "SELECT t.*, v.errors, v.warnings, v.author AS latest_author"
            " FROM topics t JOIN topic_versions v"
            f" ON v.topic_id = t.id AND v.version = t.latest_version {where} ORDER BY t.name"
        ).fetchall()
        return [dict(r) for r in rows]

    def topic_summary(self, topic_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM topics WHERE id = ?", (topic_id,)).fetchone()
        return dict(row) if row else None

    def topic_versions(self, topic_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT topic_id, version, author, note, created_at, errors, warnings,"
            " published_at, published_by FROM topic_versions WHERE topic_id = ?"
            " ORDER BY version DESC",
            (topic_id,),
        ).fetchall()
        return [dict(r) for r in rows]
