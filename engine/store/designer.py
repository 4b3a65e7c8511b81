"""The designer's saved transcripts. Imports engine.store.values.

Authors themselves are staff members (engine/store/staff.py).
"""

from __future__ import annotations

import json

from engine.store.values import dumps


class DesignerSql:
    """Transcripts recorded in the designer's simulator.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def save_transcript(self, topic_id: str, name: str, document: dict, *,
                        author: str | None = None) -> int:
        """Keep a transcript test recorded in the designer's simulator; returns its id."""
        self._require_write()
        return self._insert(
            "INSERT INTO designer_transcripts (topic_id, name, document, author, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (topic_id, name, dumps(document), author, self.now()),
        )

    def transcripts(self, topic_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT id, topic_id, name, author, created_at FROM designer_transcripts"
            " WHERE topic_id = ? ORDER BY id DESC",
            (topic_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def transcript(self, transcript_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM designer_transcripts WHERE id = ?", (transcript_id,)
        ).fetchone()
        if row is None:
            return None
        found = dict(row)
        found["document"] = json.loads(found["document"])
        return found
