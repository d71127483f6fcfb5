"""The bot's own state in ``state.sqlite3`` under the home: chats, conversation turns, feedback, refusals.

Kept apart from the archive's catalog so that the archive can be rebuilt (``briefbot reindex``, a new home for
the vectors) without losing who the bot talks to. A restart loses nothing: follow-up questions read their turns
from here, not from memory.

Schema changes are numbered SQL migrations (``MIGRATIONS``, applied once each, recorded in
``PRAGMA user_version``); never edit one that has shipped, append a new one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.answer import Turn
from index.catalog import connect, migrate

M001_CHATS_TURNS_FEEDBACK = """
CREATE TABLE chats (
    id INTEGER PRIMARY KEY,              -- Telegram chat id (negative for groups)
    type TEXT NOT NULL,                  -- private, group, supergroup, channel
    title TEXT,                          -- group title or the user's name
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),  -- 0: blocked, kicked, left or migrated
    migrated_to INTEGER,                 -- the supergroup a basic group became
    added_at TEXT NOT NULL,              -- ISO 8601 UTC: first seen or (re-)added
    removed_at TEXT,                     -- when it went inactive
    inactive_reason TEXT
);
-- Conversation turns, per chat and forum topic (thread_id 0: no topic), for follow-up questions and /reset.
CREATE TABLE turns (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL DEFAULT 0,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX turns_chat ON turns(chat_id, thread_id, id);
-- One row per answer the bot sent with feedback buttons; helpful is NULL until someone presses one.
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER,                     -- who asked
    question_message_id INTEGER,
    answer_message_id INTEGER,           -- the message carrying the buttons
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    passage_ids TEXT NOT NULL,           -- JSON array of the passages the answer was built from
    helpful INTEGER CHECK (helpful IN (0, 1)),
    voted_by INTEGER,
    at TEXT NOT NULL,
    voted_at TEXT
);
CREATE INDEX feedback_chat ON feedback(chat_id);
-- Users told once that they may not use the bot in a chat: they are not told again.
CREATE TABLE refusals (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
"""

#: The state schema, one migration per entry (the digest work appends its own).
MIGRATIONS: list[str] = [M001_CHATS_TURNS_FEEDBACK]

#: Tables keyed by ``chat_id`` whose rows follow a group when it becomes a supergroup.
CHAT_TABLES = ("turns", "feedback")


@dataclass(frozen=True)
class Chat:
    """A chat the bot has been in."""

    id: int
    type: str
    title: str | None
    active: bool
    migrated_to: int | None
    added_at: datetime
    removed_at: datetime | None
    inactive_reason: str | None


@dataclass(frozen=True)
class Feedback:
    """An answer with its feedback buttons, and the vote if there is one."""

    id: int
    chat_id: int
    user_id: int | None
    question_message_id: int | None
    answer_message_id: int | None
    question: str
    answer: str
    passage_ids: list[str]
    helpful: bool | None
    voted_by: int | None
    at: datetime
    voted_at: datetime | None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class State:
    """The bot's SQLite state.

    Args:
        path: the database file (``settings.state_path``); created with its folder when missing.
        clock: the current time (a seam for tests).
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self.clock = clock or (lambda: datetime.now(UTC))
        self.db = connect(path)
        migrate(self.db, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _now(self) -> str:
        return _iso(self.clock())

    # -- chats -------------------------------------------------------------------------------------------------
    def seen_chat(self, chat_id: int, chat_type: str, title: str | None) -> None:
        """A message arrived from the chat: record it, and make it active again (a user who writes after
        blocking the bot has unblocked it)."""
        self.db.execute(
            "INSERT INTO chats (id, type, title, active, added_at) VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT(id) DO UPDATE SET type = excluded.type, title = COALESCE(excluded.title, chats.title), "
            "active = CASE WHEN chats.migrated_to IS NULL THEN 1 ELSE 0 END, "
            "removed_at = CASE WHEN chats.migrated_to IS NULL THEN NULL ELSE chats.removed_at END, "
            "inactive_reason = CASE WHEN chats.migrated_to IS NULL THEN NULL ELSE chats.inactive_reason END",
            (chat_id, chat_type, title, self._now()),
        )

    def chat_added(self, chat_id: int, chat_type: str, title: str | None) -> None:
        """The bot was added to a group (or unblocked in a private chat)."""
        now = self._now()
        self.db.execute(
            "INSERT INTO chats (id, type, title, active, added_at) VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT(id) DO UPDATE SET type = excluded.type, title = COALESCE(excluded.title, chats.title), "
            "active = 1, added_at = excluded.added_at, removed_at = NULL, inactive_reason = NULL",
            (chat_id, chat_type, title, now),
        )

    def deactivate(self, chat_id: int, reason: str, *, chat_type: str = "unknown", title: str | None = None) -> None:
        """Stop sending to the chat: the bot was blocked, kicked or removed (a 403 says so too)."""
        now = self._now()
        self.db.execute(
            "INSERT INTO chats (id, type, title, active, added_at, removed_at, inactive_reason) "
            "VALUES (?, ?, ?, 0, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET active = 0, removed_at = excluded.removed_at, "
            "inactive_reason = excluded.inactive_reason, title = COALESCE(excluded.title, chats.title)",
            (chat_id, chat_type, title, now, now, reason),
        )

    def chat(self, chat_id: int) -> Chat | None:
        row = self.db.execute(
            "SELECT id, type, title, active, migrated_to, added_at, removed_at, inactive_reason FROM chats "
            "WHERE id = ?",
            (chat_id,),
        ).fetchone()
        if row is None:
            return None
        return Chat(
            id=row[0],
            type=row[1],
            title=row[2],
            active=bool(row[3]),
            migrated_to=row[4],
            added_at=_dt(row[5]) or self.clock(),
            removed_at=_dt(row[6]),
            inactive_reason=row[7],
        )

    def is_active(self, chat_id: int) -> bool:
        """False once the chat blocked, kicked or dropped the bot; unknown chats count as active."""
        row = self.db.execute("SELECT active FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return row is None or bool(row[0])

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        """A basic group became a supergroup: its turns and feedback move to the new id, the old one is
        marked migrated. Safe to call twice (Telegram sends both ``migrate_to`` and ``migrate_from``)."""
        now = self._now()
        with self.transaction() as db:
            old = db.execute("SELECT type, title FROM chats WHERE id = ?", (old_id,)).fetchone()
            title = old[1] if old else None
            db.execute(
                "INSERT INTO chats (id, type, title, active, added_at) VALUES (?, 'supergroup', ?, 1, ?) "
                "ON CONFLICT(id) DO UPDATE SET type = 'supergroup', title = COALESCE(chats.title, excluded.title), "
                "active = 1",
                (new_id, title, now),
            )
            db.execute(
                "INSERT INTO chats (id, type, title, active, migrated_to, added_at, removed_at, inactive_reason) "
                "VALUES (?, 'group', ?, 0, ?, ?, ?, 'migrated') "
                "ON CONFLICT(id) DO UPDATE SET active = 0, migrated_to = excluded.migrated_to, "
                "removed_at = COALESCE(chats.removed_at, excluded.removed_at), inactive_reason = 'migrated'",
                (old_id, title, new_id, now, now),
            )
            for table in CHAT_TABLES:
                db.execute(f"UPDATE {table} SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            db.execute("UPDATE OR IGNORE refusals SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            db.execute("DELETE FROM refusals WHERE chat_id = ?", (old_id,))

    def migrated_from(self, chat_id: int) -> list[int]:
        """The basic groups that became this chat (for allow-lists written with the old id)."""
        rows = self.db.execute("SELECT id FROM chats WHERE migrated_to = ?", (chat_id,)).fetchall()
        return [r[0] for r in rows]

    # -- conversation turns ------------------------------------------------------------------------------------
    def turns(self, chat_id: int, thread_id: int | None, n: int) -> list[Turn]:
        """The last ``n`` turns of the chat's topic, oldest first."""
        if n <= 0:
            return []
        rows = self.db.execute(
            "SELECT question, answer FROM turns WHERE chat_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?",
            (chat_id, thread_id or 0, n),
        ).fetchall()
        return [Turn(r[0], r[1]) for r in reversed(rows)]

    def add_turn(self, chat_id: int, thread_id: int | None, question: str, answer: str, *, keep: int = 50) -> None:
        """Remember a question and its answer; only the last ``keep`` turns of a topic are kept."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO turns (chat_id, thread_id, question, answer, at) VALUES (?, ?, ?, ?, ?)",
                (chat_id, thread_id or 0, question, answer, self._now()),
            )
            db.execute(
                "DELETE FROM turns WHERE chat_id = ? AND thread_id = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE chat_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, thread_id or 0, chat_id, thread_id or 0, keep),
            )

    def reset(self, chat_id: int, thread_id: int | None) -> int:
        """Forget the conversation of the chat's topic; returns how many turns went."""
        cursor = self.db.execute("DELETE FROM turns WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id or 0))
        return cursor.rowcount

    # -- feedback --------------------------------------------------------------------------------------------
    def add_feedback(
        self,
        chat_id: int,
        user_id: int | None,
        question_message_id: int | None,
        question: str,
        answer: str,
        passage_ids: Sequence[str],
    ) -> int:
        """A row for an answer about to be sent with feedback buttons; returns its id (the buttons carry it)."""
        cursor = self.db.execute(
            "INSERT INTO feedback (chat_id, user_id, question_message_id, question, answer, passage_ids, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (chat_id, user_id, question_message_id, question, answer, json.dumps(list(passage_ids)), self._now()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def set_feedback_message(self, feedback_id: int, message_id: int) -> None:
        self.db.execute("UPDATE feedback SET answer_message_id = ? WHERE id = ?", (message_id, feedback_id))

    def vote(self, feedback_id: int, chat_id: int, user_id: int, helpful: bool) -> Feedback | None:
        """Record a press of 👍/👎; None when the row does not exist in that chat (a stale or forged button)."""
        cursor = self.db.execute(
            "UPDATE feedback SET helpful = ?, voted_by = ?, voted_at = ? WHERE id = ? AND chat_id = ?",
            (int(helpful), user_id, self._now(), feedback_id, chat_id),
        )
        return self.feedback(feedback_id) if cursor.rowcount else None

    def feedback(self, feedback_id: int) -> Feedback | None:
        row = self.db.execute(
            "SELECT id, chat_id, user_id, question_message_id, answer_message_id, question, answer, passage_ids, "
            "helpful, voted_by, at, voted_at FROM feedback WHERE id = ?",
            (feedback_id,),
        ).fetchone()
        if row is None:
            return None
        return Feedback(
            id=row[0],
            chat_id=row[1],
            user_id=row[2],
            question_message_id=row[3],
            answer_message_id=row[4],
            question=row[5],
            answer=row[6],
            passage_ids=json.loads(row[7]),
            helpful=None if row[8] is None else bool(row[8]),
            voted_by=row[9],
            at=_dt(row[10]) or self.clock(),
            voted_at=_dt(row[11]),
        )

    # -- refusals --------------------------------------------------------------------------------------------
    def first_refusal(self, chat_id: int, user_id: int) -> bool:
        """True the first time a user is refused in a chat (then tell them), False ever after (stay quiet)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO refusals (chat_id, user_id, at) VALUES (?, ?, ?)", (chat_id, user_id, self._now())
        )
        return cursor.rowcount > 0

    # -- stats -------------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts for /stats: chats by state, questions answered, feedback given."""
        one = self.db.execute
        return {
            "chats": one("SELECT count(*) FROM chats WHERE migrated_to IS NULL").fetchone()[0],
            "active_chats": one("SELECT count(*) FROM chats WHERE active = 1").fetchone()[0],
            "groups": one("SELECT count(*) FROM chats WHERE active = 1 AND type != 'private'").fetchone()[0],
            "turns": one("SELECT count(*) FROM turns").fetchone()[0],
            "answers": one("SELECT count(*) FROM feedback").fetchone()[0],
            "helpful": one("SELECT count(*) FROM feedback WHERE helpful = 1").fetchone()[0],
            "not_helpful": one("SELECT count(*) FROM feedback WHERE helpful = 0").fetchone()[0],
        }
