"""The bot's own state in ``state.sqlite3`` under the home: chats, conversation turns, feedback, refusals.

Kept apart from the archive's catalog so that the archive can be rebuilt (``briefbot reindex``, a new home for
the vectors) without losing who the bot talks to. A restart loses nothing: follow-up questions read their turns
from here, not from memory.

Schema changes are numbered SQL migrations (``MIGRATIONS``, applied once each, recorded in
``PRAGMA user_version``); never edit one that has shipped, append a new one.

Longer than most modules on purpose: one schema and the queries on it, each a few lines, read together (a
migration and the queries that depend on it belong side by side); it imports nothing from ``bot``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from index.db import connect, from_iso, migrate, transaction

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

M002_SUBSCRIPTIONS_DELIVERIES = """
-- A chat's digest settings. A row exists once the chat set anything (a time zone before subscribing counts);
-- /unsubscribe keeps the row (zone, time, topics) with subscribed = 0.
CREATE TABLE subscriptions (
    chat_id INTEGER PRIMARY KEY,
    subscribed INTEGER NOT NULL DEFAULT 0 CHECK (subscribed IN (0, 1)),
    local_time TEXT NOT NULL DEFAULT '08:00',  -- HH:MM on the chat's clock
    tz TEXT NOT NULL DEFAULT 'UTC',            -- an IANA name or a fixed offset such as UTC+02:00
    thread_id INTEGER,                   -- the forum topic /subscribe was sent in (NULL: the chat itself)
    subscribed_at TEXT,                  -- ISO 8601 UTC: the last /subscribe
    updated_at TEXT NOT NULL,
    updated_by INTEGER                   -- the user who last changed them
);
-- Followed topics (stories about them come first) and alert topics (new articles about them are pushed).
CREATE TABLE chat_topics (
    chat_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('follow', 'alert')),
    topic TEXT NOT NULL COLLATE NOCASE,
    thread_id INTEGER,                   -- alerts go to the forum topic they were asked for in
    added_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, kind, topic)
) WITHOUT ROWID;
-- Every digest and alert sent, or being sent. A row is claimed (status 'sending') BEFORE the first message goes
-- out; the unique index makes a second claim of the same (chat, kind, period) fail, whoever makes it: another
-- trigger, a restart, `briefbot digest --send` in another process. Only a delivery that certainly sent nothing
-- ('failed') frees its period for another attempt.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                  -- digest, alert
    period TEXT NOT NULL,                -- digest: the chat's local date (2026-11-29); alert: the article id
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'partial', 'empty', 'failed')),
    thread_id INTEGER,
    since TEXT,                          -- the window a digest covered, ISO 8601 UTC
    until TEXT,
    message_ids TEXT NOT NULL DEFAULT '[]',  -- JSON array of the messages sent
    error TEXT,
    claimed_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE UNIQUE INDEX deliveries_once ON deliveries(chat_id, kind, period) WHERE status != 'failed';
CREATE INDEX deliveries_chat ON deliveries(chat_id, kind, claimed_at);
"""

#: The state schema, one migration per entry.
MIGRATIONS: list[str] = [M001_CHATS_TURNS_FEEDBACK, M002_SUBSCRIPTIONS_DELIVERIES]

#: Tables keyed by ``chat_id`` whose rows follow a group when it becomes a supergroup.
CHAT_TABLES = ("turns", "feedback", "subscriptions", "chat_topics", "deliveries")


@dataclass(frozen=True)
class Turn:
    """A previous question of a chat and the answer it got (follow-up questions read them)."""

    question: str
    answer: str = ""


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


@dataclass(frozen=True)
class Subscription:
    """A chat's digest settings: whether it is subscribed, when (local time and zone), where, what first."""

    chat_id: int
    subscribed: bool
    local_time: str
    tz: str
    thread_id: int | None
    subscribed_at: datetime | None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertTopic:
    """A topic a chat wants alerts about, and the forum topic they go to."""

    chat_id: int
    topic: str
    thread_id: int | None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


_dt = from_iso


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

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

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
                # OR IGNORE: a row the supergroup already has (its own subscription) wins over the old group's.
                db.execute(f"UPDATE OR IGNORE {table} SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
                db.execute(f"DELETE FROM {table} WHERE chat_id = ?", (old_id,))
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

    # -- subscriptions, followed topics, alerts -----------------------------------------------------------------
    _SUB = "SELECT chat_id, subscribed, local_time, tz, thread_id, subscribed_at FROM subscriptions"

    def _subscription(self, row: sqlite3.Row, topics: Sequence[str]) -> Subscription:
        return Subscription(row[0], bool(row[1]), row[2], row[3], row[4], _dt(row[5]), tuple(topics))

    def subscription(self, chat_id: int) -> Subscription | None:
        """The chat's digest settings and followed topics; None when it never set any."""
        row = self.db.execute(f"{self._SUB} WHERE chat_id = ?", (chat_id,)).fetchone()
        return self._subscription(row, self.topics(chat_id, "follow")) if row else None

    def subscribed_chats(self) -> list[Subscription]:
        """Every subscribed chat that has not blocked, left or migrated away from the bot."""
        rows = self.db.execute(
            f"{self._SUB} WHERE subscribed = 1 AND chat_id NOT IN (SELECT id FROM chats WHERE active = 0) "
            "ORDER BY chat_id"
        ).fetchall()
        followed: dict[int, list[str]] = {}
        for chat_id, topic in self.db.execute(
            "SELECT chat_id, topic FROM chat_topics WHERE kind = 'follow' ORDER BY added_at, topic"
        ):
            followed.setdefault(chat_id, []).append(topic)
        return [self._subscription(row, followed.get(row[0], ())) for row in rows]

    def _upsert(self, chat_id: int, sets: str, values: Sequence[object], *, by: int | None, local_time: str) -> None:
        self.db.execute(
            "INSERT INTO subscriptions (chat_id, local_time, updated_at, updated_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(chat_id) DO NOTHING",
            (chat_id, local_time, self._now(), by),
        )
        self.db.execute(
            f"UPDATE subscriptions SET {sets}, updated_at = ?, updated_by = ? WHERE chat_id = ?",
            (*values, self._now(), by, chat_id),
        )

    def subscribe(self, chat_id: int, local_time: str, *, thread_id: int | None, by: int | None) -> Subscription:
        """Subscribe the chat (again) to a daily digest at ``local_time`` (HH:MM), posted in ``thread_id``."""
        with self.transaction():
            self._upsert(
                chat_id,
                "subscribed = 1, local_time = ?, thread_id = ?, subscribed_at = ?",
                (local_time, thread_id, self._now()),
                by=by,
                local_time=local_time,
            )
        sub = self.subscription(chat_id)
        assert sub is not None
        return sub

    def unsubscribe(self, chat_id: int, *, by: int | None) -> bool:
        """Stop the chat's digests (its time, zone and topics are kept); False when it was not subscribed."""
        cursor = self.db.execute(
            "UPDATE subscriptions SET subscribed = 0, updated_at = ?, updated_by = ? "
            "WHERE chat_id = ? AND subscribed = 1",
            (self._now(), by, chat_id),
        )
        return cursor.rowcount > 0

    def set_timezone(self, chat_id: int, tz: str, *, by: int | None, default_time: str = "08:00") -> None:
        """Set the chat's time zone (validated by the caller); works before /subscribe too."""
        with self.transaction():
            self._upsert(chat_id, "tz = ?", (tz,), by=by, local_time=default_time)

    def add_topic(self, chat_id: int, kind: str, topic: str, *, thread_id: int | None = None) -> bool:
        """Follow (``kind="follow"``) or watch for alerts (``"alert"``) a topic; False when already there."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO chat_topics (chat_id, kind, topic, thread_id, added_at) VALUES (?, ?, ?, ?, ?)",
            (chat_id, kind, topic, thread_id, self._now()),
        )
        return cursor.rowcount > 0

    def remove_topic(self, chat_id: int, kind: str, topic: str | None = None) -> int:
        """Drop one topic (any case), or all of the kind when ``topic`` is None; returns how many went."""
        args: tuple[object, ...]
        if topic is None:
            sql, args = "DELETE FROM chat_topics WHERE chat_id = ? AND kind = ?", (chat_id, kind)
        else:
            sql, args = "DELETE FROM chat_topics WHERE chat_id = ? AND kind = ? AND topic = ?", (chat_id, kind, topic)
        return self.db.execute(sql, args).rowcount

    def topics(self, chat_id: int, kind: str) -> list[str]:
        rows = self.db.execute(
            "SELECT topic FROM chat_topics WHERE chat_id = ? AND kind = ? ORDER BY added_at, topic", (chat_id, kind)
        )
        return [r[0] for r in rows]

    def alert_topics(self) -> list[AlertTopic]:
        """Every alert topic of every chat still reachable."""
        rows = self.db.execute(
            "SELECT chat_id, topic, thread_id FROM chat_topics WHERE kind = 'alert' "
            "AND chat_id NOT IN (SELECT id FROM chats WHERE active = 0) ORDER BY chat_id, added_at"
        )
        return [AlertTopic(r[0], r[1], r[2]) for r in rows]

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
