"""The SQLite side of the archive: the article catalog, passages with their offsets and vectors, the embedding
cache, registered feeds, the journal that keeps Chroma and SQLite in step, and the outbox the keyword index
(``index.keywords``) follows.

Schema changes are numbered migration functions, applied once each and recorded in ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from index.article import content_hash
from index.db import connect, connect_readonly, from_iso, migrate, schema_version, to_iso, transaction
from index.errors import StorageError
from index.feed_registry import FEEDS_SCHEMA


@dataclass(frozen=True)
class StoredArticle:
    id: str
    url: str
    title: str
    source: str
    author: str | None
    published: datetime | None
    text: str
    content_hash: str
    ingested_at: datetime


@dataclass(frozen=True)
class StoredPassage:
    id: str
    article_id: str
    idx: int
    start: int
    end: int
    text: str
    tokens: int


M001_ARTICLES = """
        CREATE TABLE articles (
            id TEXT PRIMARY KEY,            -- sha1 of the canonical URL
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            source TEXT NOT NULL,           -- outlet
            author TEXT,
            published TEXT,                 -- ISO 8601 UTC, NULL when unknown
            published_ts REAL,              -- the same as a Unix time, for range filters
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT '',
            ingested_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX articles_hash ON articles(content_hash);
        CREATE INDEX articles_published ON articles(published_ts);
        CREATE INDEX articles_ingested ON articles(ingested_at);
        -- every URL an article is known under: its own, redirects, syndicated copies
        CREATE TABLE article_urls (url TEXT PRIMARY KEY, article_id TEXT NOT NULL) WITHOUT ROWID;
        CREATE INDEX article_urls_article ON article_urls(article_id);
        CREATE TABLE passages (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            article_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            text TEXT NOT NULL,
            title TEXT NOT NULL,
            tokens INTEGER NOT NULL
        );
        CREATE INDEX passages_article ON passages(article_id, idx);
        CREATE VIRTUAL TABLE passages_fts USING fts5(
            title, text, content='passages', content_rowid='rowid', tokenize='porter unicode61'
        );
        CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
            INSERT INTO passages_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
        END;
        CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
            INSERT INTO passages_fts(passages_fts, rowid, title, text)
                VALUES ('delete', old.rowid, old.title, old.text);
        END;
        CREATE TABLE embedding_cache (
            model TEXT NOT NULL, key TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, key)
        ) WITHOUT ROWID;
        -- Chroma ids that may exist without a committed article: deleted from Chroma on the next open.
        CREATE TABLE chroma_journal (id TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


# The content hash is of the text alone (it was of headline + text): syndicated copies under another headline
# are the same story. Computed by briefbot_text_hash, registered on every connection.
M003_TEXT_HASH = "UPDATE articles SET content_hash = briefbot_text_hash(text);"


# Each passage's vector beside it (float32 bytes, the ones given to Chroma), written in the passages' transaction
# and deleted with them: a window's or an outlet's passages are scored exactly from here, where reading them back
# from Chroma costs 0.1-0.4 ms a vector (BENCHMARKS.md, "Scale"). ``meta.vectors_model`` names the model; the
# passages of an archive made before this have none (searched through Chroma, as before) until a reindex.
# The outlet index serves the filtered queries (by outlet, then date) without a scan of every article.
M004_PASSAGE_VECTORS = """
        CREATE TABLE passage_vectors (rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL);
        CREATE TRIGGER passages_vectors_ad AFTER DELETE ON passages BEGIN
            DELETE FROM passage_vectors WHERE rowid = old.rowid;
        END;
        CREATE INDEX articles_source ON articles(source, published_ts);
"""


# The ids of an article's passages from the index alone: a window's or an outlet's passages are listed without
# reading each passage's row (and its text): 10x faster on 100k passages (BENCHMARKS.md, "Scale").
M005_PASSAGE_IDS = "CREATE INDEX passages_article_id ON passages(article_id, id);"


# The keyword index moves out of SQLite into tantivy (``index.keywords``): FTS5 scored every passage holding any
# word of a question, 0.9 s a question on 1M passages. What the index must catch up on is recorded here, by
# trigger, in the transaction of each change (an outbox); every existing passage is queued once.
M006_KEYWORD_OUTBOX = """
        DROP TRIGGER passages_ai;
        DROP TRIGGER passages_ad;
        DROP TABLE passages_fts;
        CREATE TABLE keyword_pending (rowid INTEGER PRIMARY KEY);
        CREATE TRIGGER passages_keywords_ai AFTER INSERT ON passages BEGIN
            INSERT OR IGNORE INTO keyword_pending (rowid) VALUES (new.rowid);
        END;
        CREATE TRIGGER passages_keywords_ad AFTER DELETE ON passages BEGIN
            INSERT OR IGNORE INTO keyword_pending (rowid) VALUES (old.rowid);
        END;
        CREATE TRIGGER passages_keywords_au AFTER UPDATE OF title, text ON passages BEGIN
            INSERT OR IGNORE INTO keyword_pending (rowid) VALUES (old.rowid), (new.rowid);
        END;
        CREATE TRIGGER articles_keywords_au AFTER UPDATE OF published_ts, source ON articles BEGIN
            INSERT OR IGNORE INTO keyword_pending (rowid) SELECT rowid FROM passages WHERE article_id = new.id;
        END;
        INSERT OR IGNORE INTO keyword_pending (rowid) SELECT rowid FROM passages;
"""


# Each kept vector again, as int8 (``briefbot_int8``: a quarter of the bytes), in a table clustered by outlet and
# date: a window's or an outlet's vectors are a few contiguous ranges, read in one pass, where reading them from
# ``passage_vectors`` by rowid cost 25 us each (0.6-0.8 s for a week or an outlet of a year of news). The search
# shortlists from these codes and scores the shortlist exactly from ``passage_vectors`` (``index.search``).
# Undated articles are filed under NO_DATE (-1): a key column cannot be NULL. Triggers keep it in step.
M007_VECTOR_SCAN = """
        CREATE TABLE vector_scan (
            source TEXT NOT NULL, published_ts REAL NOT NULL, passage INTEGER NOT NULL, code BLOB NOT NULL,
            PRIMARY KEY (source, published_ts, passage)
        ) WITHOUT ROWID;
        CREATE INDEX vector_scan_passage ON vector_scan(passage);
        CREATE INDEX vector_scan_when ON vector_scan(source, published_ts);
        CREATE TRIGGER passage_vectors_scan_ai AFTER INSERT ON passage_vectors BEGIN
            DELETE FROM vector_scan WHERE passage = new.rowid;
            INSERT INTO vector_scan (source, published_ts, passage, code)
                SELECT a.source, coalesce(a.published_ts, -1), new.rowid, briefbot_int8(new.vector)
                FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.rowid = new.rowid;
        END;
        CREATE TRIGGER passage_vectors_scan_ad AFTER DELETE ON passage_vectors BEGIN
            DELETE FROM vector_scan WHERE passage = old.rowid;
        END;
        CREATE TRIGGER articles_scan_au AFTER UPDATE OF published_ts, source ON articles BEGIN
            UPDATE vector_scan SET source = new.source, published_ts = coalesce(new.published_ts, -1)
                WHERE passage IN (SELECT rowid FROM passages WHERE article_id = new.id);
        END;
        INSERT INTO vector_scan (source, published_ts, passage, code)
            SELECT a.source, coalesce(a.published_ts, -1), v.rowid, briefbot_int8(v.vector)
            FROM passage_vectors v JOIN passages p ON p.rowid = v.rowid JOIN articles a ON a.id = p.article_id
            ORDER BY 1, 2, 3;
"""


def int8_code(vector: bytes) -> bytes:
    """A float32 unit vector's bytes as int8 codes (each component times 127, rounded): ``briefbot_int8``."""
    v = np.frombuffer(vector, dtype=np.float32)
    return np.clip(np.rint(v * 127.0), -127, 127).astype(np.int8).tobytes()


def _migrations() -> list[str]:
    return [
        M001_ARTICLES,
        FEEDS_SCHEMA,
        M003_TEXT_HASH,
        M004_PASSAGE_VECTORS,
        M005_PASSAGE_IDS,
        M006_KEYWORD_OUTBOX,
        M007_VECTOR_SCAN,
    ]


def _iso(dt: datetime | None) -> str | None:
    return to_iso(dt) if dt else None


_dt = from_iso


class Catalog:
    """The article catalog in ``catalog.sqlite3`` under the home.

    Args:
        path: the database file (created with its schema when missing).
        read_only: open it without writing anything (a read-only home); it must exist and be up to date.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.db = connect_readonly(path) if read_only else connect(path)
        self.db.create_function("briefbot_text_hash", 1, content_hash, deterministic=True)
        self.db.create_function("briefbot_int8", 1, int8_code, deterministic=True)
        if not read_only:
            migrate(self.db, _migrations())
        elif schema_version(self.db) < len(_migrations()):
            self.db.close()
            raise StorageError(
                f"{path}: the archive was made by an older briefbot and must be upgraded, which needs write "
                "access: run any briefbot command once on a writable copy of the home"
            )

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    # -- lookups ---------------------------------------------------------------------------------------------
    def by_url(self, url: str) -> tuple[str, str] | None:
        """(article id, content hash) of the article known under ``url``."""
        row = self.db.execute(
            "SELECT a.id, a.content_hash FROM article_urls u JOIN articles a ON a.id = u.article_id WHERE u.url = ?",
            (url,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def by_hash(self, content_hash: str) -> str | None:
        row = self.db.execute("SELECT id FROM articles WHERE content_hash = ? LIMIT 1", (content_hash,)).fetchone()
        return row[0] if row else None

    def passage_ids(self, article_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM passages WHERE article_id = ?", (article_id,))]

    def urls(self, article_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT url FROM article_urls WHERE article_id = ?", (article_id,))]

    def article(self, article_id: str) -> StoredArticle | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return self._article(row) if row else None

    def articles(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        ids = list(dict.fromkeys(ids))
        out: dict[str, StoredArticle] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT * FROM articles WHERE id IN ({','.join('?' * len(part))})"
            out.update({r["id"]: self._article(r) for r in self.db.execute(q, part)})
        return out

    def passages(self, ids: Iterable[str]) -> dict[str, StoredPassage]:
        ids = list(dict.fromkeys(ids))
        out: dict[str, StoredPassage] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT id, article_id, idx, start, end, text, tokens FROM passages WHERE id IN ({marks})"
            out.update({r[0]: StoredPassage(*r) for r in self.db.execute(q, part)})
        return out

    def iter_passages(self, batch: int = 1000) -> Iterator[list[sqlite3.Row]]:
        """All passages with their article's metadata, in batches (for reindexing)."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT p.rowid, p.id, p.article_id, p.idx, p.text, p.title, a.source, a.published_ts "
                "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.rowid > ? ORDER BY p.rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield rows

    @staticmethod
    def _article(row: sqlite3.Row) -> StoredArticle:
        return StoredArticle(
            id=row["id"],
            url=row["url"],
            title=row["title"],
            source=row["source"],
            author=row["author"],
            published=_dt(row["published"]),
            text=row["text"],
            content_hash=row["content_hash"],
            ingested_at=_dt(row["ingested_at"]) or datetime.now(UTC),
        )

    # -- writes (call inside ``transaction()``) -----------------------------------------------------------------
    def put_article(
        self,
        db: sqlite3.Connection,
        *,
        article_id: str,
        url: str,
        title: str,
        source: str,
        author: str | None,
        published: datetime | None,
        text: str,
        content_hash: str,
        origin: str,
        passages: Sequence[StoredPassage],
        now: datetime,
        vectors: np.ndarray | None = None,
        model: str | None = None,
    ) -> None:
        """Insert or replace an article and all its passages (with their vectors, one row each, made by
        ``model``: see ``put_vectors``)."""
        db.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        db.execute(
            "INSERT INTO articles (id, url, title, source, author, published, published_ts, text, content_hash, "
            "origin, ingested_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET url=excluded.url, title=excluded.title, source=excluded.source, "
            "author=excluded.author, published=excluded.published, published_ts=excluded.published_ts, "
            "text=excluded.text, content_hash=excluded.content_hash, origin=excluded.origin, "
            "updated_at=excluded.updated_at",
            (
                article_id,
                url,
                title,
                source,
                author,
                _iso(published),
                published.timestamp() if published else None,
                text,
                content_hash,
                origin,
                now.isoformat(),
                now.isoformat(),
            ),
        )
        db.executemany(
            "INSERT INTO passages (id, article_id, idx, start, end, text, title, tokens) VALUES (?,?,?,?,?,?,?,?)",
            [(p.id, article_id, p.idx, p.start, p.end, p.text, title, p.tokens) for p in passages],
        )
        if vectors is not None and model is not None:
            self.put_vectors(db, [p.id for p in passages], vectors, model)
        self.add_urls(db, article_id, [url])

    def put_vectors(self, db: sqlite3.Connection, ids: Sequence[str], vectors: np.ndarray, model: str) -> None:
        """Keep the vectors of stored passages ``ids`` beside them. Vectors of another model than the kept ones
        are not kept (``reset_vectors`` starts over for a new model)."""
        kept = self.vectors_model(db)
        if kept is None:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('vectors_model', ?)", (model,))
        elif kept != model:
            return
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        db.executemany(
            "INSERT OR REPLACE INTO passage_vectors (rowid, vector) SELECT rowid, ? FROM passages WHERE id = ?",
            [(rows[i].tobytes(), pid) for i, pid in enumerate(ids)],
        )

    def reset_vectors(self, db: sqlite3.Connection, model: str) -> None:
        """Forget every kept vector: from now on those of ``model`` are kept (a reindex into another model)."""
        db.execute("DELETE FROM passage_vectors")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('vectors_model', ?)", (model,))

    def vectors_model(self, db: sqlite3.Connection | None = None) -> str | None:
        """The model of the kept passage vectors (None before any is kept)."""
        row = (db or self.db).execute("SELECT value FROM meta WHERE key = 'vectors_model'").fetchone()
        return str(row[0]) if row else None

    def all_vectors_kept(self, model: str) -> bool:
        """Whether every passage has its vector of ``model`` kept (and so in ``vector_scan``). Passages stored
        before the catalog kept vectors have none until a reindex. Counted from two narrow indexes (about 0.1 s
        on 1M passages), so callers cache it."""
        if self.vectors_model() != model:
            return False
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM passages) = (SELECT count(*) FROM vector_scan INDEXED BY vector_scan_when)"
        ).fetchone()
        return bool(row[0])

    def _rows_of(self, sql: str, rowids: Sequence[int]) -> list[Any]:
        """The rows of ``sql`` (whose ``{marks}`` is a list of passage rowids), 500 rowids a query."""
        out: list[Any] = []
        for i in range(0, len(rowids), 500):
            part = list(rowids[i : i + 500])
            out += self.db.execute(sql.format(marks=",".join("?" * len(part))), part).fetchall()
        return out

    def vectors_by_rowid(self, rowids: Sequence[int]) -> list[tuple[str, bytes]]:
        """(passage id, kept float32 vector bytes) of passages ``rowids`` (those with a kept vector)."""
        return self._rows_of(
            "SELECT p.id, v.vector FROM passage_vectors v JOIN passages p ON p.rowid = v.rowid "
            "WHERE v.rowid IN ({marks})",
            rowids,
        )

    def vectors(self, ids: Iterable[str], model: str) -> dict[str, np.ndarray]:
        """The kept vectors of passages ``ids`` (those that have one, when they are of ``model``)."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, np.ndarray] = {}
        if not ids or self.vectors_model() != model:
            return out
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                "SELECT p.id, v.vector FROM passages p JOIN passage_vectors v ON v.rowid = p.rowid "
                f"WHERE p.id IN ({','.join('?' * len(part))})",
                part,
            )
            out.update((pid, np.frombuffer(blob, dtype=np.float32)) for pid, blob in rows)
        return out

    def add_urls(self, db: sqlite3.Connection, article_id: str, urls: Iterable[str]) -> None:
        db.executemany(
            "INSERT INTO article_urls (url, article_id) VALUES (?, ?) ON CONFLICT(url) DO NOTHING",
            [(u, article_id) for u in urls if u],
        )

    # -- retention (``index.maintenance.prune``) --------------------------------------------------------------
    def older_than(self, cutoff: datetime) -> list[str]:
        """Ids of the articles dated before ``cutoff``, oldest first: by their published date, or, when undated,
        by when they were ingested."""
        rows = self.db.execute(
            "SELECT id, published_ts, ingested_at FROM articles WHERE published_ts < ? "
            "OR (published_ts IS NULL AND ingested_at < ?)",
            # ingested_at is ISO text: a day of slack on the string bound, then an exact check on the parsed time
            (cutoff.timestamp(), to_iso(cutoff + timedelta(days=1))),
        ).fetchall()
        dated: list[tuple[float, str]] = []
        for aid, ts, ingested in rows:
            if ts is None:
                when = _dt(ingested)
                if when is None or when >= cutoff:
                    continue
                ts = when.timestamp()
            dated.append((ts, aid))
        return [aid for _, aid in sorted(dated)]

    def passages_of(self, article_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(passage id, title, text) of every passage of the articles: what their vectors and cache keys are made of."""
        out: list[tuple[str, str, str]] = []
        for i in range(0, len(article_ids), 500):
            part = list(article_ids[i : i + 500])
            q = f"SELECT id, title, text FROM passages WHERE article_id IN ({','.join('?' * len(part))})"
            out.extend((r[0], r[1], r[2]) for r in self.db.execute(q, part))
        return out

    def delete_articles(self, db: sqlite3.Connection, article_ids: Sequence[str]) -> int:
        """Delete articles with their passages and every URL they are known under (kept vectors go with the
        passages, and the keyword index is told, by trigger); returns how many URLs went. Call inside
        ``transaction()``."""
        urls = 0
        for i in range(0, len(article_ids), 500):
            part = list(article_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", part)
            urls += db.execute(f"DELETE FROM article_urls WHERE article_id IN ({marks})", part).rowcount
            db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)
        return urls

    def cache_models(self) -> list[str]:
        """The models with entries in the embedding cache (a loose index scan: one seek per model)."""
        rows = self.db.execute(
            "WITH RECURSIVE m(model) AS (SELECT min(model) FROM embedding_cache UNION ALL "
            "SELECT (SELECT min(model) FROM embedding_cache WHERE model > m.model) FROM m WHERE m.model IS NOT NULL) "
            "SELECT model FROM m WHERE model IS NOT NULL"
        )
        return [r[0] for r in rows]

    def cache_count(self, models: Sequence[str], keys: Sequence[str]) -> int:
        """How many of ``keys`` the embedding cache holds, over ``models``."""
        n = 0
        for model in models:
            n += len(self.cache_lookup(model, list(keys)))
        return n

    def cache_delete(self, db: sqlite3.Connection, models: Sequence[str], keys: Sequence[str]) -> int:
        """Delete the cache entries of ``keys`` for every one of ``models``; returns how many went."""
        n = 0
        for model in models:
            cursor = db.executemany(
                "DELETE FROM embedding_cache WHERE model = ? AND key = ?", [(model, k) for k in keys]
            )
            n += cursor.rowcount
        return n

    def journal_insert(self, db: sqlite3.Connection, ids: Iterable[str]) -> None:
        """Journal Chroma ids inside the caller's transaction (they are deleted from Chroma next)."""
        db.executemany("INSERT OR IGNORE INTO chroma_journal (id) VALUES (?)", [(i,) for i in ids])

    # -- the keyword index's outbox (``index.keywords``) -------------------------------------------------------
    def keyword_pending(self, n: int) -> list[int]:
        """The first ``n`` passage rowids the keyword index has yet to catch up on."""
        return [r[0] for r in self.db.execute("SELECT rowid FROM keyword_pending ORDER BY rowid LIMIT ?", (n,))]

    def keyword_rows(self, rowids: Sequence[int]) -> list[tuple[int, str, str, float | None, str]]:
        """(rowid, headline, text, published as a Unix time or None, outlet) of those of ``rowids`` that exist."""
        return self._rows_of(
            "SELECT p.rowid, p.title, p.text, a.published_ts, a.source FROM passages p "
            "JOIN articles a ON a.id = p.article_id WHERE p.rowid IN ({marks})",
            rowids,
        )

    def keyword_done(self, rowids: Sequence[int]) -> None:
        """Clear ``rowids`` from the outbox: the keyword index has committed them."""
        with self.transaction() as db:
            db.executemany("DELETE FROM keyword_pending WHERE rowid = ?", [(r,) for r in rowids])

    def keyword_backlog(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM keyword_pending").fetchone()[0])

    def keyword_requeue(self) -> None:
        """Queue every passage for the keyword index (which is being built anew)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO keyword_pending (rowid) SELECT rowid FROM passages")

    # -- the Chroma journal ----------------------------------------------------------------------------------
    def journal_add(self, ids: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO chroma_journal (id) VALUES (?)", [(i,) for i in ids])

    def journal_clear(self, db: sqlite3.Connection, ids: Iterable[str]) -> None:
        db.executemany("DELETE FROM chroma_journal WHERE id = ?", [(i,) for i in ids])

    def journal(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chroma_journal")]

    # -- embedding cache ---------------------------------------------------------------------------------------
    def cache_lookup(self, model: str, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT key, vector FROM embedding_cache WHERE model = ? AND key IN ({','.join('?' * len(part))})"
            out.update({r[0]: r[1] for r in self.db.execute(q, [model, *part])})
        return out

    def cache_store(self, model: str, vectors: dict[str, bytes]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO embedding_cache (model, key, vector) VALUES (?,?,?)",
                [(model, k, v) for k, v in vectors.items()],
            )

    # -- stats ----------------------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        a = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        p = self.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return a, p

    def holdings(self, until: datetime | None = None) -> tuple[int, datetime | None]:
        """How many articles, and the newest date, published before ``until`` (undated ones count; all without it)."""
        if until is None:
            count = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
            return count, self.date_range()[1]
        ts = until.timestamp()
        count = self.db.execute(
            "SELECT count(*) FROM articles WHERE published_ts IS NULL OR published_ts < ?", (ts,)
        ).fetchone()[0]
        newest = self.db.execute(
            "SELECT published FROM articles WHERE published_ts < ? ORDER BY published_ts DESC LIMIT 1", (ts,)
        ).fetchone()
        return count, _dt(newest[0]) if newest else None

    def sources(self) -> dict[str, int]:
        rows = self.db.execute("SELECT source, count(*) FROM articles GROUP BY source ORDER BY count(*) DESC, source")
        return {r[0]: r[1] for r in rows}

    def date_range(self) -> tuple[datetime | None, datetime | None]:
        """The oldest and newest published dates. Each is one step along the date index: a min and a max in one
        SELECT read every article (0.2 s on a year of news)."""
        ends = [
            self.db.execute(
                f"SELECT published FROM articles WHERE published_ts IS NOT NULL ORDER BY published_ts {order} LIMIT 1"
            ).fetchone()
            for order in ("ASC", "DESC")
        ]
        return _dt(ends[0][0]) if ends[0] else None, _dt(ends[1][0]) if ends[1] else None

    def latest(self, n: int = 10) -> list[StoredArticle]:
        rows = self.db.execute(
            "SELECT * FROM articles ORDER BY coalesce(published_ts, 0) DESC, ingested_at DESC LIMIT ?", (n,)
        )
        return [self._article(r) for r in rows]
