"""Photos kept in the database: users' fetched media, sandbox and agent uploads. Imports
engine.store.values.

Every node of an instance shares the database, not a disk: a photo stored by the worker on one
machine is served by the workspace of any other. A file is known by its `name`, the path the
instance folder kept it under before (`media/inbound/12-0.png`), so messages recorded by older
versions still name it; `import_media_file` brings such a file into the table the first time
it is read (the lazy import: only the machine that holds the folder can read it).
"""

from __future__ import annotations

import hashlib
from typing import Any


def _file_dict(row: Any) -> dict:
    found = dict(row)
    if "data" in found and not isinstance(found["data"], bytes):
        found["data"] = bytes(found["data"])  # a memoryview from some drivers
    return found


class MediaSql:
    """Stored photos. Methods of Store (engine/store/core.py): they use its `conn`, `now()`
    and `_require_write()`."""

    def save_media_file(self, name: str, data: bytes, *, content_type: str,
                        message_id: int | None = None) -> bool:
        """Keep a photo under `name`; False when a file of that name is kept already (a
        download done twice keeps the first: both are the same photo)."""
        self._require_write()
        return self.conn.execute(
            "INSERT INTO media_files (name, message_id, content_type, size, sha256, data,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, message_id, content_type, len(data), hashlib.sha256(data).hexdigest(),
             bytes(data), self.now()),
        ).rowcount == 1

    def media_file(self, name: str) -> dict | None:
        """The photo kept under `name` (its bytes in "data"), or None."""
        row = self.conn.execute(
            "SELECT * FROM media_files WHERE name = ?", (name,)).fetchone()
        return _file_dict(row) if row else None

    def media_files(self, message_id: int) -> list[dict]:
        """What is kept of one message's photos, without their bytes."""
        rows = self.conn.execute(
            "SELECT id, name, message_id, content_type, size, sha256, created_at"
            " FROM media_files WHERE message_id = ? ORDER BY name", (message_id,)).fetchall()
        return [dict(r) for r in rows]

    def import_media_file(self, name: str, data: bytes, *, content_type: str) -> dict:
        """Keep a photo found on disk under its old path (linked to the message that names
        it, when one does) and return it as `media_file` would."""
        with self.write():
            message_id = self.media_message_id(name)
            self.save_media_file(name, data, content_type=content_type, message_id=message_id)
        return self.media_file(name)

    def media_message_id(self, name: str) -> int | None:
        """The message whose fetched photo was recorded under `name`, if any."""
        row = self.conn.execute(
            "SELECT message_id FROM media_fetches WHERE file = ? ORDER BY id LIMIT 1",
            (name,)).fetchone()
        return row[0] if row else None
