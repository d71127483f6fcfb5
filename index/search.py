"""Hybrid passage search: dense (Chroma) and keyword BM25 (tantivy, ``index.keywords``), fused by reciprocal rank.

Filters by date window and outlet apply to both sides, so a window with no articles returns nothing rather
than passages from other dates. At most ``per_article`` passages of one article reach the top k, and an optional
recency prior favours newer news among equally relevant passages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from index.archive import Archive
from index.keywords import KeywordFilter
from index.store import NO_DATE

Mode = Literal["hybrid", "dense", "keyword"]

#: A filter admitting at most this many passages is searched exactly: every one scored from the vectors the
#: catalog keeps (about 3 ms per 1,000 on 2 cores) ...
EXACT_SEARCH_MAX = 50_000
#: ... of which at most this many read back from Chroma (passages stored before the catalog kept vectors), which
#: costs 0.1-0.4 ms a vector.
CHROMA_FETCH_MAX = 5000
#: How many of the passages a filter admits are scored exactly after their int8 codes shortlisted them (at least
#: five times the passages asked for). Rounding moves a cosine by about 0.003; a shortlist of 500 from a week of
#: news (20k passages) reaches far below any near tie.
SHORTLIST = 500
RRF_K = 60  # the constant of Cormack et al.'s reciprocal rank fusion
#: How the two sides' candidates become one list ("rrf" or "convex") and the dense side's share of the weight.
#: Chosen by 5-fold cross-validation over rtqa-2024 dev and newsqa-dev together (bench/fusion_ablation.py,
#: BENCHMARKS.md): RRF leaning on BM25 (0.3 : 0.7) is the one fusion that never loses to the keyword side alone
#: on either set; equal weights let MiniLM's near-misses in on questions that name their people and places.
FUSION = "rrf"
DENSE_WEIGHT = 0.25


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search: ``since`` inclusive, ``until`` exclusive (UTC), outlets by name.

    ``undated``: whether articles without a date pass a date filter. A window the user asked for ("this week",
    ``--since``) excludes them; an "as of" bound (evaluation's ``--today``) keeps them.
    """

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    undated: bool = False

    @property
    def narrow(self) -> bool:
        """Whether the filter likely leaves a small part of the archive: a start date or named outlets. Such a
        filter goes to the stores' own filtered search; an "as of" end alone admits most passages, so a wide plain
        search filtered afterwards is faster."""
        return bool(self.since or self.sources)

    def admits(self, published_ts: float, source: str) -> bool:
        """The same test as ``chroma_where``, on one passage's metadata."""
        if self.sources and source not in self.sources:
            return False
        if not (self.since or self.until):
            return True
        if published_ts == NO_DATE:
            return self.undated
        if self.since and published_ts < max(0.0, self.since.timestamp()):
            return False
        return not (self.until and published_ts >= self.until.timestamp())

    def chroma_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.since or self.until:
            # Undated articles carry NO_DATE (-1), outside every real date range.
            dated: list[dict[str, Any]] = [
                {"published_ts": {"$gte": max(0.0, self.since.timestamp() if self.since else 0.0)}}
            ]
            if self.until:
                dated.append({"published_ts": {"$lt": self.until.timestamp()}})
            in_range = dated[0] if len(dated) == 1 else {"$and": dated}
            clauses.append({"$or": [in_range, {"published_ts": {"$eq": NO_DATE}}]} if self.undated else in_range)
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class Hit:
    """A passage found for a query, with its article's metadata and why it ranked."""

    passage_id: str
    article_id: str
    text: str
    start: int
    end: int
    title: str
    source: str
    url: str
    published: datetime | None
    score: float
    dense_rank: int | None = None
    keyword_rank: int | None = None
    similarity: float = 0.0  # cosine similarity to the query (dense side), 0 when not computed


@dataclass
class SearchResult:
    hits: list[Hit]
    query: str
    filters: SearchFilters
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class WordWeights:
    """How rare each word is among the archive's passages: IDF in BM25's form, floored at a small positive weight.

    Document frequencies are read from the keyword index when a word is first asked for and cached; the cache is
    dropped every
    ``ttl`` seconds, so a long-running bot follows its archive as articles come in.
    """

    def __init__(self, archive: Archive, *, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.archive, self.ttl, self.clock = archive, ttl, clock
        self._since = -math.inf
        self._cache: dict[str, float] = {}
        self._n = 1

    def document_frequency(self, term: str) -> int:
        """About how many passages hold ``term`` (as the keyword index cuts and stems it)."""
        return self.archive.keywords.document_frequency(term)

    def __call__(self, term: str) -> float:
        if self.clock() - self._since > self.ttl:
            self._since, self._cache = self.clock(), {}
            self._n = max(1, self.archive.catalog.counts()[1])
        weight = self._cache.get(term)
        if weight is None:
            d = self.document_frequency(term)
            weight = self._cache[term] = max(0.1, math.log(1 + (self._n - d + 0.5) / (d + 0.5)))
        return weight


class Searcher:
    """Searches one archive. Holds nothing but the archive: cheap to create per request."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._admitted: dict[SearchFilters, int] = {}  # admitted's answers, for one search

    def admitted(self, filters: SearchFilters) -> int:
        """How many passages ``filters`` admits, counted from the indexes alone, up to ``EXACT_SEARCH_MAX + 1``."""
        count = self._admitted.get(filters)
        if count is None:
            if self.archive.scannable():
                sql, args = scan_sql(filters, count=True)
                sql += " LIMIT ?"
            else:
                sql, args = admitted_vectors_sql(filters, kept=False)
            row = self.archive.catalog.db.execute(f"SELECT count(*) FROM ({sql})", [*args, EXACT_SEARCH_MAX + 1])
            count = self._admitted[filters] = int(row.fetchone()[0])
        return count

    def admits_few(self, filters: SearchFilters) -> bool:
        """Whether ``filters`` admits at most ``EXACT_SEARCH_MAX`` passages (a start date of this year admits most
        of the archive: it is searched as a wide filter, not passage by passage)."""
        return self.admitted(filters) <= EXACT_SEARCH_MAX

    def embed_query(self, query: str) -> np.ndarray:
        return self.archive.embedder.inner.embed([query])[0]

    def dense(self, vector: np.ndarray, n: int, filters: SearchFilters) -> list[tuple[str, float]]:
        # Chroma's filtered search costs 100-300 ms on 80k passages against 5 ms for a plain one, and grows with
        # the passages the filter admits (BENCHMARKS.md). A narrow filter (a window, outlets) admits a small part:
        # those passages are scored exactly here, from the vectors the catalog keeps. A wide one (an "as of" end)
        # admits most: a plain result twice as long is filtered here. Chroma's own filtered search is left for
        # the cases between.
        where = filters.chroma_where()
        if where is None:
            hits = self.archive.store.query(vector, n)
        else:
            if filters.narrow and self.admits_few(filters):
                scored = self.exact(vector, n, filters)
                if scored is not None:
                    return scored
            wide = [h for h in self.archive.store.query(vector, n * 2) if filters.admits(h.published_ts, h.source)]
            hits = wide[:n] if len(wide) >= n else self.archive.store.query(vector, n, where)
        return [(h.passage_id, 1.0 - h.distance) for h in hits]

    def exact(self, vector: np.ndarray, n: int, filters: SearchFilters) -> list[tuple[str, float]] | None:
        """The best ``n`` of every passage ``filters`` admits, by exact cosine; None when it admits more than
        ``EXACT_SEARCH_MAX`` (or more than ``CHROMA_FETCH_MAX`` without a vector in the catalog).

        The admitted passages' int8 codes are read from the catalog's ``vector_scan`` table in a few contiguous
        ranges and scored; the best ``SHORTLIST`` (at least 5 n) are scored again from their float32 vectors,
        so the ranking is exact unless a passage falls more than that far by rounding."""
        if self.admitted(filters) > EXACT_SEARCH_MAX:
            return None
        catalog = self.archive.catalog
        query = vector.astype(np.float32)
        if not self.archive.scannable():
            return self._exact_joined(query, n, filters)
        sql, args = scan_sql(filters)
        # One row of two concatenations: reading 30k rows one by one into Python cost 3x more.
        blob, listed = catalog.db.execute(
            f"SELECT CAST(group_concat(code, '') AS BLOB), group_concat(passage) FROM ({sql})", args
        ).fetchone()
        if not blob:
            return []
        codes = np.frombuffer(blob, dtype=np.int8).reshape(-1, len(query))
        rowids = np.fromstring(listed, dtype=np.int64, sep=",")
        count = len(codes)
        approx = codes.astype(np.float32) @ query
        short = max(SHORTLIST, 5 * n)
        best = np.argpartition(-approx, short)[:short] if count > short else np.arange(count)
        kept = catalog.vectors_by_rowid(rowids[best].tolist())
        matrix = np.frombuffer(b"".join(blob for _, blob in kept), dtype=np.float32)
        scores = matrix.reshape(len(kept), -1) @ query
        scored = sorted(zip((pid for pid, _ in kept), scores.tolist(), strict=True), key=lambda x: -x[1])
        return scored[:n]

    def _exact_joined(self, vector: np.ndarray, n: int, filters: SearchFilters) -> list[tuple[str, float]] | None:
        """``exact`` for an archive whose passages do not all have a kept vector of this model: each admitted
        passage's vector read through a join (or from Chroma)."""
        catalog = self.archive.catalog
        sql, args = admitted_vectors_sql(filters, kept=catalog.vectors_model() == self.archive.model_id)
        rows = catalog.db.execute(sql, [*args, EXACT_SEARCH_MAX + 1]).fetchall()
        if len(rows) > EXACT_SEARCH_MAX:
            return None
        missing = [pid for pid, blob in rows if blob is None]
        if len(missing) > CHROMA_FETCH_MAX:
            return None
        ids = [pid for pid, blob in rows if blob is not None]
        scored: list[tuple[str, float]] = []
        if ids:
            matrix = np.frombuffer(b"".join(blob for _, blob in rows if blob is not None), dtype=np.float32)
            scores = matrix.reshape(len(ids), -1) @ vector
            scored = list(zip(ids, scores.tolist(), strict=True))
        if missing:
            scored += [(pid, float(vec @ vector)) for pid, vec in self.archive.store.vectors(missing).items()]
        scored.sort(key=lambda x: -x[1])
        return scored[:n]

    def keyword(self, query: str, n: int, filters: SearchFilters) -> list[tuple[str, float]]:
        """The best ``n`` passages by BM25 among those ``filters`` admits (the keyword index filters by date and
        outlet itself, so a window or an outlet costs no more than a plain question)."""
        where = None
        if filters.since or filters.until or filters.sources:
            where = KeywordFilter(
                since=filters.since.timestamp() if filters.since else None,
                until=filters.until.timestamp() if filters.until else None,
                sources=filters.sources,
                undated_ts=NO_DATE if filters.undated else None,
            )
        ranked = self.archive.keywords.search(query, n, where)
        meta = self._passage_meta([rowid for rowid, _ in ranked])
        # A passage deleted, or whose article changed date or outlet, since the index last caught up is dropped.
        return [
            (meta[rowid][0], score)
            for rowid, score in ranked
            if rowid in meta and (where is None or filters.admits(meta[rowid][1], meta[rowid][2]))
        ]

    def _passage_meta(self, rowids: list[int]) -> dict[int, tuple[str, float, str]]:
        """Passage rowid -> (passage id, article date as a Unix time or NO_DATE, outlet)."""
        out: dict[int, tuple[str, float, str]] = {}
        db = self.archive.catalog.db
        for i in range(0, len(rowids), 500):
            chunk = rowids[i : i + 500]
            rows = db.execute(
                "SELECT p.rowid, p.id, a.published_ts, a.source FROM passages p JOIN articles a ON a.id = p.article_id "
                f"WHERE p.rowid IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for rowid, pid, ts, source in rows:
                out[rowid] = (pid, NO_DATE if ts is None else float(ts), source)
        return out

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: Mode = "hybrid",
        per_article: int = 2,
        candidates: int = 100,
        recency: float = 0.0,
        now: datetime | None = None,
    ) -> SearchResult:
        """The best ``k`` passages for ``query``.

        Args:
            query: the question or search words.
            k: how many passages to return.
            filters: date window and outlets.
            mode: "hybrid" (the default), "dense" or "keyword" (for evaluation).
            per_article: at most this many passages from one article.
            candidates: how many passages each side contributes before fusion.
            recency: weight of the recency prior (0 = none); newer passages gain up to this share of score.
            now: the reference time for recency (default: now).

        Returns:
            The hits, best first, with timings.
        """
        filters = filters or SearchFilters()
        self._admitted = {}
        started = time.perf_counter()
        timings: dict[str, float] = {}
        dense_ranked: list[tuple[str, float]] = []
        keyword_ranked: list[tuple[str, float]] = []
        vector = None
        if mode in ("hybrid", "dense"):
            t = time.perf_counter()
            vector = self.embed_query(query)
            timings["embed"] = time.perf_counter() - t
            t = time.perf_counter()
            dense_ranked = self.dense(vector, candidates, filters)
            timings["dense"] = time.perf_counter() - t
        if mode in ("hybrid", "keyword"):
            t = time.perf_counter()
            keyword_ranked = self.keyword(query, candidates, filters)
            timings["keyword"] = time.perf_counter() - t
        dense_pos = {pid: i for i, (pid, _) in enumerate(dense_ranked)}
        kw_pos = {pid: i for i, (pid, _) in enumerate(keyword_ranked)}
        sims = dict(dense_ranked)
        scores = fuse(dense_ranked, keyword_ranked)
        passages = self.archive.catalog.passages(scores)
        articles = self.archive.catalog.articles(p.article_id for p in passages.values())
        if vector is not None:
            # Keyword-only hits: their stored vectors give their similarity too (the answer's evidence test).
            missing = [pid for pid in scores if pid not in sims]
            if missing:
                t = time.perf_counter()
                for pid, vec in self.archive.vectors(missing).items():
                    sims[pid] = float(vec @ vector)
                timings["vectors"] = time.perf_counter() - t
        ref = (now or datetime.now(UTC)).timestamp()
        hits: list[Hit] = []
        for pid, score in scores.items():
            p = passages.get(pid)
            a = articles.get(p.article_id) if p else None
            if p is None or a is None:
                continue  # a vector whose article is being replaced right now
            if recency and a.published:
                age_days = max(0.0, (ref - a.published.timestamp()) / 86400)
                score *= 1.0 + recency * math.exp(-age_days / 30)
            hits.append(
                Hit(
                    passage_id=pid,
                    article_id=p.article_id,
                    text=p.text,
                    start=p.start,
                    end=p.end,
                    title=a.title,
                    source=a.source,
                    url=a.url,
                    published=a.published,
                    score=score,
                    dense_rank=dense_pos.get(pid),
                    keyword_rank=kw_pos.get(pid),
                    similarity=sims.get(pid, 0.0),
                )
            )
        hits.sort(key=lambda h: -h.score)
        per: dict[str, int] = {}
        top: list[Hit] = []
        for h in hits:
            if per.get(h.article_id, 0) >= per_article:
                continue
            per[h.article_id] = per.get(h.article_id, 0) + 1
            top.append(h)
            if len(top) >= k:
                break
        return SearchResult(top, query, filters, time.perf_counter() - started, timings)


def _normalised(ranking: list[tuple[str, float]]) -> dict[str, float]:
    """Scores over the best one, from their theoretical minimum (0 for BM25 and, near enough, for MiniLM's cosines)."""
    top = max((score for _, score in ranking), default=0.0)
    return {pid: max(0.0, score) / top if top > 0 else 0.0 for pid, score in ranking}


def fuse(dense: list[tuple[str, float]], keyword: list[tuple[str, float]]) -> dict[str, float]:
    """One score per passage from the two sides' ranked ``(passage id, score)`` lists.

    ``FUSION = "convex"``: ``DENSE_WEIGHT`` times the normalised cosine plus the rest times the normalised BM25
    (Bruch et al. 2023); a side that did not find a passage gives it 0. ``"rrf"``: reciprocal rank fusion, each
    side weighted the same way (0.5: equal weights).
    A list of one side alone (dense or keyword mode) keeps its order either way.
    """
    scores: dict[str, float] = {}
    if FUSION == "convex":
        weight = DENSE_WEIGHT if dense and keyword else (1.0 if dense else 0.0)
        for w, side in ((weight, _normalised(dense)), (1.0 - weight, _normalised(keyword))):
            for pid, value in side.items():
                scores[pid] = scores.get(pid, 0.0) + w * value
        return scores
    for w, ranking in ((2 * DENSE_WEIGHT, dense), (2 * (1.0 - DENSE_WEIGHT), keyword)):
        for rank, (pid, _) in enumerate(ranking):
            scores[pid] = scores.get(pid, 0.0) + w / (RRF_K + rank + 1)
    return scores


def _sql_filter(filters: SearchFilters) -> tuple[list[str], list[Any]]:
    """``filters`` as SQL conditions on the articles table ``a``, with their arguments."""
    clauses: list[str] = []
    args: list[Any] = []
    dated: list[str] = []
    if filters.since:
        dated.append("a.published_ts >= ?")
        args.append(filters.since.timestamp())
    if filters.until:
        dated.append("a.published_ts < ?")
        args.append(filters.until.timestamp())
    if dated:
        in_range = " AND ".join(dated)
        clauses.append(f"(a.published_ts IS NULL OR ({in_range}))" if filters.undated else f"({in_range})")
    if filters.sources:
        clauses.append(f"a.source IN ({','.join('?' * len(filters.sources))})")
        args.extend(filters.sources)
    return clauses, args


def admitted_vectors_sql(filters: SearchFilters, *, kept: bool) -> tuple[str, list[Any]]:
    """SQL for (passage id, kept vector or NULL) of up to ``?`` passages ``filters`` admits, with its arguments
    (the limit last). The ids come from the indexes alone, never from the passages' rows."""
    clauses, args = _sql_filter(filters)
    sql = (
        f"SELECT p.id, {'v.vector' if kept else 'NULL'} FROM articles a JOIN passages p ON p.article_id = a.id"
        + (" LEFT JOIN passage_vectors v ON v.rowid = p.rowid" if kept else "")
        + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        + " LIMIT ?"
    )
    return sql, args


def scan_sql(filters: SearchFilters, *, count: bool = False) -> tuple[str, list[Any]]:
    """SQL for (passage rowid, int8 code) of every passage ``filters`` admits that has a kept vector, from the
    catalog's ``vector_scan`` table (clustered by outlet, then date), with its arguments. Without named outlets,
    the outlets are listed by a skip over the table's first key column, so a window is one range per outlet.
    ``count``: rows of the narrow (outlet, date) index instead, to be counted."""
    if filters.sources:
        outlets, args = f"v.source IN ({','.join('?' * len(filters.sources))})", list(filters.sources)
        head = ""
    else:
        outlets, args = "v.source IN (SELECT source FROM outlets WHERE source IS NOT NULL)", []
        head = (
            "WITH RECURSIVE outlets(source) AS (SELECT min(source) FROM vector_scan UNION ALL "
            "SELECT (SELECT min(source) FROM vector_scan WHERE source > outlets.source) FROM outlets "
            "WHERE outlets.source IS NOT NULL) "
        )
    parts: list[tuple[str, list[Any]]] = []
    if filters.since or filters.until:
        dated = "v.published_ts >= ?" + (" AND v.published_ts < ?" if filters.until else "")
        bounds: list[Any] = [max(0.0, filters.since.timestamp()) if filters.since else 0.0]
        bounds += [filters.until.timestamp()] if filters.until else []
        parts.append((f"{outlets} AND {dated}", [*args, *bounds]))
        if filters.undated:
            parts.append((f"{outlets} AND v.published_ts = ?", [*args, NO_DATE]))
    else:
        parts.append((outlets, args))
    columns, table = (
        ("1", "vector_scan v INDEXED BY vector_scan_when") if count else ("v.passage, v.code", "vector_scan v")
    )
    sql = head + " UNION ALL ".join(f"SELECT {columns} FROM {table} WHERE {w}" for w, _ in parts)
    return sql, [a for _, part in parts for a in part]


def with_window(
    filters: SearchFilters, since: datetime | None, until: datetime | None, *, undated: bool = False
) -> SearchFilters:
    """``filters`` narrowed to a date window (the later start and the earlier end win).

    Undated articles stay in only when they were in before and ``undated`` allows them.
    """
    had_dates = bool(filters.since or filters.until)
    s = max(x for x in (filters.since, since) if x) if (filters.since or since) else None
    u = min(x for x in (filters.until, until) if x) if (filters.until or until) else None
    keep_undated = undated and (filters.undated or not had_dates)
    return replace(filters, since=s, until=u, undated=keep_undated)
