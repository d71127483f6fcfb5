"""SQLite as briefbot uses it, for the catalog (``index.catalog``), feeds and the bot's state (``bot.state``):
WAL connections shared by processes, numbered migrations, explicit transactions, ISO 8601 UTC timestamps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, so the bot and a CLI ingest can share the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def migrate(db: sqlite3.Connection, migrations: Sequence[str]) -> None:
    """Apply the numbered SQL migrations not yet applied, each in its own transaction.

    ``migrations[i]`` takes the schema from version i to i + 1 (``PRAGMA user_version``); never edit one that
    has shipped, append a new one.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, sql in enumerate(migrations[version:], start=version + 1):
        try:
            db.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def to_iso(value: datetime) -> str:
    """A timestamp as stored: ISO 8601 in UTC."""
    return value.astimezone(UTC).isoformat()


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
