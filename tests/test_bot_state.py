"""The bot's SQLite state: migrations, turns per chat and topic, feedback, refusals, chat lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.state import MIGRATIONS, State, Turn


def test_schema_is_migrated_once_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    state = State(path)
    state.add_turn(1, None, "q", "a")
    state.close()
    again = State(path)
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert again.turns(1, None, 3) == [Turn("q", "a")]
    again.close()


def test_turns_are_kept_per_chat_and_topic(tmp_path: Path) -> None:
    state = State(tmp_path / "s.db")
    for n in range(5):
        state.add_turn(-100, 7, f"topic q{n}", f"a{n}", keep=3)
    state.add_turn(-100, None, "general q", "a")
    state.add_turn(42, None, "private q", "a")
    assert [t.question for t in state.turns(-100, 7, 10)] == ["topic q2", "topic q3", "topic q4"]  # pruned to 3
    assert [t.question for t in state.turns(-100, 7, 2)] == ["topic q3", "topic q4"]  # the last n, oldest first
    assert [t.question for t in state.turns(-100, None, 10)] == ["general q"]
    assert state.turns(42, None, 0) == []
    assert state.reset(-100, 7) == 3 and state.turns(-100, 7, 10) == []
    assert [t.question for t in state.turns(42, None, 10)] == ["private q"]


def test_chat_lifecycle_and_migration(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 20, 8, tzinfo=UTC)]
    state = State(tmp_path / "s.db", clock=lambda: clock[0])
    assert state.is_active(-5)  # unknown chats are not blocked
    state.chat_added(-5, "group", "Club")
    state.add_turn(-5, None, "q", "a")
    feedback = state.add_feedback(-5, 1, 10, "q", "a", ["p1", "p2"])
    assert state.first_refusal(-5, 99) and not state.first_refusal(-5, 99)

    state.migrate_chat(-5, -1005)
    state.migrate_chat(-5, -1005)  # Telegram sends migrate_to and migrate_from: idempotent
    old, new = state.chat(-5), state.chat(-1005)
    assert old is not None and not old.active and old.migrated_to == -1005 and old.inactive_reason == "migrated"
    assert new is not None and new.active and new.type == "supergroup" and new.title == "Club"
    assert state.turns(-1005, None, 3) == [Turn("q", "a")] and state.turns(-5, None, 3) == []
    assert state.migrated_from(-1005) == [-5]
    assert not state.first_refusal(-1005, 99)  # told before the migration: still told
    row = state.vote(feedback, -1005, 2, False)
    assert row is not None and row.helpful is False and row.passage_ids == ["p1", "p2"] and row.voted_by == 2
    assert state.vote(feedback, -5, 2, True) is None  # a button from another chat is no vote

    state.seen_chat(-5, "group", "Club")  # a late message from the old group does not revive it
    assert not state.is_active(-5)
    clock[0] = datetime(2026, 11, 21, tzinfo=UTC)
    state.deactivate(42, "blocked", chat_type="private")
    chat = state.chat(42)
    assert chat is not None and not chat.active and chat.removed_at == clock[0] and chat.inactive_reason == "blocked"
    state.seen_chat(42, "private", "Alice")  # writing again means unblocked
    chat = state.chat(42)
    assert chat is not None and chat.active and chat.removed_at is None and chat.title == "Alice"
    assert state.stats() == {
        "chats": 2,
        "active_chats": 2,
        "groups": 1,
        "turns": 1,
        "answers": 1,
        "helpful": 0,
        "not_helpful": 1,
    }
