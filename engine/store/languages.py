"""The language each phone and linked account chose. Imports nothing from Parley.

A conversation's own language is a column of `conversations`, written with its state
(engine/store/conversations.py); these are the choices that carry over to the next one.
"""

from __future__ import annotations


class LanguagesSql:
    """Remembered languages. Methods of Store (engine/store/core.py): they use its `conn`,
    `now()` and `_require_write()`."""

    def phone_language(self, phone: str) -> str | None:
        """The language `phone` chose last, or None if it never chose one."""
        row = self.conn.execute(
            "SELECT language FROM phone_languages WHERE phone = ?", (phone,)).fetchone()
        return row[0] if row else None

    def set_phone_language(self, phone: str, language: str) -> None:
        self._require_write()
        self.conn.execute(
            "INSERT INTO phone_languages (phone, language, chosen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (phone) DO UPDATE SET language = excluded.language,"
            " chosen_at = excluded.chosen_at",
            (phone, language, self.now()))

    def user_language(self, user_id: int) -> str | None:
        """The language linked account `user_id` chose, or None."""
        row = self.conn.execute(
            "SELECT language FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def set_user_language(self, user_id: int, language: str) -> None:
        self._require_write()
        self.conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))

    def conversation_language(self, conversation_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT language FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return row[0] if row else None
