"""SQLite as briefbot uses it, for the catalog (``index.catalog``), feeds and the bot's state (``bot.state``):
WAL connections shared by processes, numbered migrations, explicit transactions, ISO 8601 UTC timestamps.

A write the disk refuses (read-only file or folder, full disk, I/O error) comes out as a ``StorageError`` naming
the file and what to do, from every connection made here; SQLite rolls the transaction back, so the file is as
it was. ``connect_readonly`` opens a database that must not (or cannot) be written, such as a read-only home.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.errors import StorageError

# Primary result codes of failures that are about the disk, not the SQL.
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14
_DISK_CODES = frozenset({_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_error(path: Path | str, exc: BaseException) -> StorageError:
    """A one-line error for a write (or open) the disk refused: which file, why, and what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    number = getattr(exc, "errno", None)
    home = Path(path).parent
    if (
        primary == _SQLITE_FULL
        or number in _FULL_ERRNOS
        or (primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN) and _full(home))
    ):
        return StorageError(
            f"{path}: cannot write: the disk is full; nothing of this write was kept. Free space on that disk "
            f"(or move BRIEFBOT_HOME) and run it again"
        )
    if primary in (_SQLITE_READONLY, _SQLITE_PERM) or number in _READ_ONLY_ERRNOS:
        return StorageError(
            f"{path}: cannot write: it is read-only for this user. Give this user write access to {home}, "
            "or set BRIEFBOT_HOME to a writable folder"
        )
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return StorageError(f"{path}: cannot be used ({detail}); check the disk and the permissions of {home}")


def _full(folder: Path) -> bool:
    """Whether the disk holding ``folder`` has no room left (SQLite reports a full disk as an I/O error when
    it cannot grow its WAL or shared-memory file)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def _is_disk_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _DISK_CODES


class _Connection(sqlite3.Connection):
    """A connection whose disk failures are ``StorageError``s naming the file (set as ``path``)."""

    path: Path = Path("?")

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(sql_script)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def __exit__(self, *exc_info: Any) -> Any:  # ``with connection:`` commits here
        try:
            return super().__exit__(*exc_info)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: sqlite3.Error) -> Exception:
        if not _is_disk_error(exc):
            return exc
        if self.in_transaction:  # SQLite may keep the transaction open after a failed statement: undo it
            with suppress(sqlite3.Error):
                super().execute("ROLLBACK")
        return storage_error(self.path, exc)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, so the bot and a CLI ingest can share the file.

    Raises:
        StorageError: the file or its folder cannot be created or written (read-only, full disk).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False, factory=_Connection)
    except (OSError, sqlite3.Error) as exc:
        raise storage_error(path, exc) from None
    assert isinstance(db, _Connection)
    db.path = path
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        db.close()
        raise
    return db


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that writes nothing, not even WAL or lock files: for a home this user may not
    write (a read-only snapshot, a mount shared with a second bot).

    A WAL database can be read in place while its ``-shm`` file exists (a writer has it open); otherwise it is
    opened as immutable, which reads the main file as it stands.

    Raises:
        StorageError: the file does not exist or cannot be read.
    """
    if not path.is_file():
        raise StorageError(f"{path}: no such database (the home is read-only, so it cannot be created)")
    uri = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                f"{uri}?{options}",
                uri=True,
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
            assert isinstance(db, _Connection)
            db.path = path
            sqlite3.Connection.execute(db, "SELECT count(*) FROM sqlite_master").fetchone()  # opening is lazy
        except sqlite3.Error as exc:
            last = exc
            if db is not None:
                db.close()
            continue
        db.row_factory = sqlite3.Row
        return db
    detail = str(last) if last else "unknown error"
    raise StorageError(f"{path}: cannot be read ({detail}); check that this user may read it and its folder")


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
            # Two processes opening a new home at once both read the old version; the second to get the write
            # lock finds the migration applied ("table ... already exists"): nothing left to do for it.
            if schema_version(db) >= number:
                continue
            raise


def schema_version(db: sqlite3.Connection) -> int:
    """The number of migrations applied to the database (``PRAGMA user_version``)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # a disk error may have rolled it back already
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def to_iso(value: datetime) -> str:
    """A timestamp as stored: ISO 8601 in UTC."""
    return value.astimezone(UTC).isoformat()


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
