"""The keyword index: BM25 over every passage's headline and text, in a tantivy index under the home
(``keywords/``).

Why tantivy: SQLite FTS5 scores every passage that holds any word of a question and has no top-k pruning, so a
plain question took 0.9 s of keyword search on a year of news (1M passages); tantivy's block-max WAND finds the
same top k in about 10 ms (BENCHMARKS.md, "Scale"). A passage is one field, its headline and text together, so
BM25 sees it whole as FTS5 did: separate fields, the headline's at half weight, lost 1-2 % of Hit@5 on both
question sets, and one field gained on both (BENCHMARKS.md, "Keyword index").

The index is derived from the catalog and follows it like an outbox: every change to a passage, or to its
article's date or outlet, records the passage's rowid in the catalog's ``keyword_pending`` table, by trigger, in
the transaction of the change. ``sync`` applies what is pending: each pending passage is deleted from the index
and indexed anew when it still exists; the index is committed; only then are those rowids cleared. Applying one
twice changes nothing, so a crash between the two commits costs nothing, and the catalog stays the one place an
article is written all-or-nothing. A missing or unreadable index is rebuilt from the catalog.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from index.errors import StorageError
from index.store import NO_DATE
from index.terms import query_terms

log = logging.getLogger(__name__)

#: Bumped when the schema or the analyzer changes: an index of another version is rebuilt from the catalog.
SCHEMA_VERSION = 2
STAMP = "briefbot-keywords.json"
TOKENIZER = "briefbot"
#: Passages applied per index commit; a commit costs about 0.1 s on a year of news.
SYNC_BATCH = 20_000
WRITER_HEAP = 64_000_000

#: One passage as the index takes it: rowid, headline, text, published (a Unix time, None when unknown), outlet.
Row = tuple[int, str, str, float | None, str]


def _analyzer() -> tantivy.TextAnalyzer:
    """Words split at anything not a letter or digit, lower-cased, accents folded, Snowball English stems (the
    stemmer of ``index.terms``)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name=TOKENIZER, index_option="freq")
    builder.add_float_field("published_ts", indexed=True, fast=True)
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    return builder.build()


@dataclass(frozen=True)
class KeywordFilter:
    """What a keyword search admits: ``since`` inclusive and ``until`` exclusive (Unix times), outlets by name,
    and whether undated passages (``undated_ts``) pass a date bound."""

    since: float | None = None
    until: float | None = None
    sources: tuple[str, ...] = ()
    undated_ts: float | None = None


class KeywordIndex:
    """The tantivy index of one home.

    Args:
        path: its folder (created when missing, unless ``read_only``).
        read_only: search only; ``sync`` is refused.

    Raises:
        StorageError: the folder cannot be created, or (read-only) holds no index.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.analyzer = _analyzer()
        self._writer: Any = None
        self._shadow: Path | None = None
        self._lock = threading.RLock()
        #: Whether this open found no usable index (none yet, another version, unreadable): the catalog's
        #: passages must all be indexed again.
        self.fresh = False
        self.index = self._open()
        self.schema = self.index.schema

    def _open(self) -> tantivy.Index:
        stamp = self.path / STAMP
        usable = False
        if stamp.is_file():
            try:
                usable = json.loads(stamp.read_text()).get("schema") == SCHEMA_VERSION and tantivy.Index.exists(
                    str(self.path)
                )
            except (OSError, ValueError):
                usable = False
        if self.read_only:
            if not usable:
                raise StorageError(
                    f"{self.path}: the keyword index is missing or out of date, and the home is read-only: run "
                    "any briefbot command once on a writable copy of the home"
                )
            # A reader takes a lock file in the index's folder: open it from a private folder of links to the
            # (immutable) index files, in TMPDIR, removed on close.
            self._shadow = Path(tempfile.mkdtemp(prefix="briefbot-keywords-"))
            for f in self.path.iterdir():
                if f.is_file() and not f.name.startswith(".tantivy"):
                    (self._shadow / f.name).symlink_to(f.resolve())
            index = tantivy.Index.open(str(self._shadow))
        else:
            try:
                if not usable:
                    if self.path.exists():
                        log.warning("the keyword index at %s is missing or out of date: rebuilding it", self.path)
                        shutil.rmtree(self.path)
                    self.path.mkdir(parents=True)
                    index = tantivy.Index(_schema(), path=str(self.path), reuse=False)
                    stamp.write_text(json.dumps({"schema": SCHEMA_VERSION}))
                    self.fresh = True
                else:
                    index = tantivy.Index.open(str(self.path))
            except (OSError, ValueError) as exc:
                raise StorageError(f"{self.path}: cannot open the keyword index ({exc})") from None
        index.register_tokenizer(TOKENIZER, self.analyzer)
        return index

    # -- reading ---------------------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """``text`` as the index cuts and stems it."""
        return list(self.analyzer.analyze(text))

    def search(self, query: str, n: int, where: KeywordFilter | None = None) -> list[tuple[int, float]]:
        """The ``n`` passages (rowid, BM25 score) that best match the content words of ``query``, among those
        ``where`` admits, best first."""
        tokens = sorted({t for term in query_terms(query) for t in self.tokens(term)})
        if not tokens or n <= 0:
            return []
        words: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for token in tokens:
            words.append(
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", token, index_option="freq"))
            )
        query_obj = tantivy.Query.boolean_query(words)
        filters = self._filters(where) if where else []
        if filters:
            query_obj = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query_obj)]
                + [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
            )
        for attempt in (1, 2):
            try:
                searcher = self.index.searcher()
                result = searcher.search(query_obj, n, count=False)
                return [(int(searcher.doc(address)["rowid"][0]), float(score)) for score, address in result.hits]
            except ValueError as exc:
                # Another process's writer may have merged away a segment between this reader's last reload and
                # now: reload once and search again.
                if attempt == 2:
                    raise StorageError(f"{self.path}: the keyword index cannot be read ({exc})") from None
                self.index.reload()
        return []

    def _filters(self, where: KeywordFilter) -> list[tantivy.Query]:
        out: list[tantivy.Query] = []
        if where.since is not None or where.until is not None:
            dated = tantivy.Query.range_query(
                self.schema,
                "published_ts",
                tantivy.FieldType.Float,
                max(0.0, where.since or 0.0),
                where.until,
                include_upper=where.until is None,
            )
            if where.undated_ts is not None:
                undated = tantivy.Query.range_query(
                    self.schema, "published_ts", tantivy.FieldType.Float, where.undated_ts, where.undated_ts
                )
                dated = tantivy.Query.boolean_query([(tantivy.Occur.Should, dated), (tantivy.Occur.Should, undated)])
            out.append(dated)
        if where.sources:
            out.append(tantivy.Query.term_set_query(self.schema, "source", list(where.sources)))
        return out

    def document_frequency(self, term: str) -> int:
        """About how many passages hold ``term``: its rarest token's count in the headline or the text (deleted
        passages count until the index merges them away)."""
        tokens = self.tokens(term)
        if not tokens:
            return 0
        searcher = self.index.searcher()
        return min(searcher.doc_freq("body", t) for t in tokens)

    def count(self) -> int:
        """Passages in the index."""
        self.index.reload()
        return int(self.index.searcher().num_docs)

    # -- writing ---------------------------------------------------------------------------------------------
    def sync(
        self,
        pending: Callable[[int], list[int]],
        rows: Callable[[Sequence[int]], list[Row]],
        done: Callable[[Sequence[int]], None],
    ) -> int:
        """Apply the catalog's pending changes; returns how many passages were applied.

        Args:
            pending: up to n pending rowids.
            rows: the passages of those rowids that still exist.
            done: clears applied rowids from the catalog (after the index has committed them).
        """
        if self.read_only:
            raise StorageError(f"{self.path}: the home is read-only; the keyword index cannot be updated")
        applied = 0
        with self._lock:
            while batch := pending(SYNC_BATCH):
                writer = self._open_writer()
                for rowid in batch:
                    writer.delete_documents_by_term("rowid", rowid)
                for rowid, title, text, published_ts, source in rows(batch):
                    doc = tantivy.Document()
                    doc.add_integer("rowid", rowid)
                    doc.add_text("body", f"{title}\n{text}")
                    doc.add_float("published_ts", NO_DATE if published_ts is None else float(published_ts))
                    doc.add_text("source", source)
                    writer.add_document(doc)
                writer.commit()
                done(batch)
                applied += len(batch)
                if applied >= 100_000 and applied % 100_000 < SYNC_BATCH:
                    log.info("keyword index: %d passages indexed", applied)
            if applied:
                self.index.reload()
        return applied

    def _open_writer(self) -> Any:
        if self._writer is None:
            try:
                self._writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as exc:
                raise StorageError(f"{self.path}: cannot write the keyword index ({exc})") from None
        return self._writer

    def release(self) -> None:
        """Let the index's writer go (after its merges finish): another process may then write the home."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()

    def close(self) -> None:
        self.release()
        if self._shadow is not None:
            shutil.rmtree(self._shadow, ignore_errors=True)
            self._shadow = None
