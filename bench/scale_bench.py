"""Scale benchmark: a year of news (N passages) without paying for N embeddings, then questions and an ingest.

    python bench/scale_bench.py --passages N [--home DIR] [--reuse] [--chroma-url URL] [--json]

1. Build (once per home; ``--reuse`` keeps a built one): real passage texts from
   ../shared/data/rtqa-2024/articles.jsonl.gz (read at run time, never copied), re-dated across the 365 days
   before the build, spread over 30 outlets and varied (each copy of a story opens with its own dateline, so no
   two articles share a text). A few thousand real passages are embedded once with the project's embedder
   (cached under bench/out/scale, or BRIEFBOT_SCALE_CACHE); every synthetic passage gets the vector of its real
   passage plus small noise, renormalised. Written through the project's store code: ``Catalog.put_article`` inside
   ``catalog.transaction()`` and ``VectorStore.upsert``, in ingest's order. The build runs in a child process,
   so the measuring process's peak memory is its own.
2. 200 questions through ``bot.ask.Asker`` (what ``briefbot ask`` calls; extractive): plain ones, ones with a
   window ("this week"), ones with an outlet filter (``--source``), and "what happened today?" (a briefing).
3. Ingest of 500 new real articles (the corpus's last 500, never used for the build) into the large archive and
   into an empty one: ``ingest_ratio`` = passages/s into the large archive over passages/s into the empty one.
   Their vectors are embedded once (kept in the same cache) and put in both archives' embedding cache first, so
   the ratio compares the stores, not the model (the same on both sides). The 500 are removed again afterwards,
   so a home can be reused.
Prints one JSON object; latencies in ms, ``rss_mb`` the peak RSS of the measuring process, ``disk_mb`` the home's
size (for a Chroma server, only the catalog is in the home). Bad input or an absent corpus: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rtqa-2024"
#: Vectors embedded once for the build and the ingest test (outside git: bench/out is ignored).
CACHE = Path(os.environ.get("BRIEFBOT_SCALE_CACHE", ROOT / "bench" / "out" / "scale"))
INGEST_ARTICLES = 500  # the corpus's last articles: the ingest test, never part of a build
BASE_PASSAGES = 4000  # real passages embedded once; every synthetic passage is a noisy copy of one
NOISE = 0.015  # per-dimension noise on a unit vector of 384: cosine about 0.96 to its real passage
DAYS = 365
OUTLETS = [
    f"{a} {b}"
    for a in ("Meridian", "Harbor", "Northgate", "Ridge", "Summit", "Valley")
    for b in ("Wire", "Post", "Herald", "Times", "Journal")
]
CITIES = ["WASHINGTON", "LONDON", "KYIV", "BERLIN", "TOKYO", "NAIROBI", "OTTAWA", "PARIS", "DELHI", "LIMA"]
TODAY_QUESTIONS = ["what happened today?", "what's new today?", "any news today?", "today's headlines"]
META = "scale.json"
sys.path.insert(0, str(ROOT))


class BenchError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _articles(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@dataclass(frozen=True)
class BasePassage:
    article: int  # index into the base articles
    idx: int
    start: int
    end: int
    text: str
    tokens: int


def _base(articles: list[dict[str, Any]], settings: Any) -> tuple[list[list[BasePassage]], np.ndarray]:
    """Passages of the first base articles (``BASE_PASSAGES`` in all) with their real vectors, embedded once."""
    from index.article import normalize_text
    from index.chunk import chunk_text
    from index.embed import make_embedder

    per_article: list[list[BasePassage]] = []
    texts: list[str] = []
    for i, a in enumerate(articles):
        text = normalize_text(a["text"])
        title = normalize_text(a["title"]).replace("\n", " ")
        if not text or not title:
            per_article.append([])
            continue
        chunks = chunk_text(
            text, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap, tokenizer=settings.tokenizer
        )
        per_article.append([BasePassage(i, c.index, c.start, c.end, c.text, c.tokens) for c in chunks])
        texts.extend(f"{title}\n{c.text}" for c in chunks)
        if len(texts) >= BASE_PASSAGES:
            break
    key = hashlib.sha256("\0".join([settings.embedding_model, *texts]).encode()).hexdigest()[:16]
    cached = CACHE / f"base-vectors-{key}.npy"
    if cached.is_file():
        vectors = np.load(cached)
    else:
        started = time.perf_counter()
        model = make_embedder(settings.embedding_model, batch_size=settings.embedding_batch)
        vectors = np.vstack([model.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
        log(f"embedded {len(texts)} base passages in {time.perf_counter() - started:.0f} s")
    return per_article, vectors.astype(np.float32)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _synthetic(
    n_passages: int, articles: list[dict[str, Any]], base: list[list[BasePassage]], vectors: np.ndarray, now: datetime
) -> Iterator[tuple[dict[str, Any], list[BasePassage], np.ndarray]]:
    """Synthetic articles, as (article fields, passages, vectors), until ``n_passages`` passages are made."""
    rng = np.random.default_rng(13)
    pyrng = random.Random(13)
    offsets: list[int] = []  # first vector row of each base article
    row = 0
    for passages in base:
        offsets.append(row)
        row += len(passages)
    usable = [i for i, p in enumerate(base) if p]
    made, serial = 0, 0
    while made < n_passages:
        b = usable[serial % len(usable)]
        a = articles[b]
        outlet = OUTLETS[pyrng.randrange(len(OUTLETS))]
        published = now - timedelta(seconds=pyrng.uniform(0, DAYS * 86400))
        city = CITIES[pyrng.randrange(len(CITIES))]
        prefix = f"{city}, {published:%d %B %Y} ({outlet}) - dispatch {serial}.\n\n"
        from index.article import normalize_text

        text = prefix + normalize_text(a["text"])
        shift = len(prefix)
        passages = []
        for p in base[b][: n_passages - made]:
            start = 0 if p.idx == 0 else p.start + shift
            end = p.end + shift
            passages.append(BasePassage(b, p.idx, start, end, text[start:end], p.tokens))
        real = vectors[offsets[b] : offsets[b] + len(passages)]
        noisy = real + rng.normal(0.0, NOISE, real.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        slug = hashlib.sha1(f"{serial}:{a['url']}".encode()).hexdigest()[:12]
        fields = {
            "url": f"https://{outlet.lower().replace(' ', '')}.example/{published:%Y/%m/%d}/{slug}",
            "title": normalize_text(a["title"]).replace("\n", " "),
            "source": outlet,
            "published": published,
            "text": text,
        }
        yield fields, passages, noisy.astype(np.float32)
        made += len(passages)
        serial += 1


def build(home: Path, n_passages: int, chroma_url: str | None) -> dict[str, Any]:
    """Write ``n_passages`` synthetic passages into a new archive at ``home``; returns its ``scale.json``."""
    from bot.settings import Settings
    from index.archive import Archive
    from index.article import article_id, content_hash
    from index.catalog import StoredPassage
    from index.ingest import _passage_id

    articles = _articles(DATA / "articles.jsonl.gz")[:-INGEST_ARTICLES]
    settings = Settings(home=home, chroma_url=chroma_url)
    base, vectors = _base(articles, settings)
    now = datetime.now(UTC)
    started = time.perf_counter()
    made = 0
    with Archive(settings) as archive, archive.writing():
        batch: list[tuple[dict[str, Any], list[StoredPassage], np.ndarray]] = []

        def flush() -> None:
            ids = [p.id for _, ps, _ in batch for p in ps]
            metas = [
                {"article_id": f["id"], "source": f["source"], "published_ts": f["published"].timestamp(), "idx": p.idx}
                for f, ps, _ in batch
                for p in ps
            ]
            archive.catalog.journal_add(ids)
            archive.store.upsert(ids, np.vstack([v for _, _, v in batch]), metas)
            stamp = datetime.now(UTC)
            with archive.catalog.transaction() as db:
                for f, ps, vecs in batch:
                    archive.catalog.put_article(
                        db,
                        article_id=f["id"],
                        url=f["url"],
                        title=f["title"],
                        source=f["source"],
                        author=None,
                        published=f["published"],
                        text=f["text"],
                        content_hash=content_hash(f["text"]),
                        origin="scale_bench",
                        passages=ps,
                        now=stamp,
                        vectors=vecs,
                        model=archive.model_id,
                    )
                archive.catalog.journal_clear(db, ids)
            archive.sync_keywords()
            batch.clear()

        pending = 0
        for fields, passages, vecs in _synthetic(n_passages, articles, base, vectors, now):
            fields["id"] = aid = article_id(fields["url"])
            stored = [
                StoredPassage(_passage_id(aid, p.start, p.end, p.text), aid, p.idx, p.start, p.end, p.text, p.tokens)
                for p in passages
            ]
            batch.append((fields, stored, vecs))
            pending += len(stored)
            if pending >= 5000:
                made += pending
                flush()
                pending = 0
                if made % 50_000 < 5000:
                    rate = made / (time.perf_counter() - started)
                    log(f"built {made:,} of {n_passages:,} passages ({rate:.0f}/s)")
        if batch:
            made += pending
            flush()
        counted = archive.catalog.counts()[1]
    meta = {
        "passages": counted,
        "requested": n_passages,
        "build_seconds": round(time.perf_counter() - started, 1),
        "built_at": now.isoformat(),
        "chroma_url": chroma_url,
    }
    (home / META).write_text(json.dumps(meta, indent=1))
    return meta


def _questions(now: datetime) -> list[tuple[str, str, Any]]:
    """200 (kind, question, filters): plain, window, outlet, today."""
    from index.search import SearchFilters
    from index.timewin import parse_window

    with gzip.open(DATA / "questions_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["question"] for line in f]
    plain = [q for q in texts if parse_window(q, now) is None]
    windowed = [q for q in texts if parse_window(q, now) is not None]
    out: list[tuple[str, str, Any]] = [("plain", q, None) for q in plain[:90]]
    extra = [f"{q.rstrip('?')} this week?" for q in plain[90:]]
    out += [("window", q, None) for q in (windowed + extra)[:50]]
    out += [("outlet", q, SearchFilters(sources=(OUTLETS[i % len(OUTLETS)],))) for i, q in enumerate(plain[-40:])]
    out += [("today", TODAY_QUESTIONS[i % len(TODAY_QUESTIONS)], None) for i in range(20)]
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ask_latencies(archive: Any, settings: Any) -> dict[str, Any]:
    """Each question through the Asker ``briefbot ask`` uses; ms per kind."""
    from bot.answering import AnswerEngine, QuestionContext
    from bot.answering.llm import make_llm
    from bot.ask import Asker

    asker = Asker(AnswerEngine(archive, settings, llm=make_llm(settings)))
    questions = _questions(datetime.now(UTC))
    for _, q, filters in questions[:3]:  # warm-up: the model session, first page reads
        asker.reply_sync(q, QuestionContext(filters=filters))
    times: dict[str, list[float]] = {}
    answered = 0
    for kind, q, filters in questions:
        t = time.perf_counter()
        reply = asker.reply_sync(q, QuestionContext(filters=filters))
        times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
        answered += not reply.answer.abstained
    every = [t for ts in times.values() for t in ts]
    out: dict[str, Any] = {
        "questions": len(every),
        "answered": answered,
        "ask_p50_ms": round(statistics.median(every), 1),
        "ask_p95_ms": round(_percentile(every, 0.95), 1),
        "window_p95_ms": round(_percentile(times["window"], 0.95), 1),
    }
    for kind, ts in times.items():
        out[f"{kind}_p50_ms"] = round(statistics.median(ts), 1)
        out[f"{kind}_p95_ms"] = round(_percentile(ts, 0.95), 1)
    return out


def _ingest_once(archive: Any, source: Path) -> tuple[float, int, int]:
    """(seconds, passages written, passages the model embedded) of ingesting ``source`` into ``archive``."""
    from index.ingest import ingest
    from index.sources import read_sources

    report = ingest(archive, read_sources([str(source)], archive.settings))
    if report.failed:
        log(f"{len(report.failed)} of the ingest articles failed: {report.failed[0].reason}")
    _forget(archive, report.new_article_ids)
    return report.seconds, report.passages, report.embedded


def _forget(archive: Any, article_ids: list[str]) -> None:
    """Remove the ingest test's articles again, and the embedding cache they filled (a build fills none)."""
    pids = [pid for aid in article_ids for pid in archive.catalog.passage_ids(aid)]
    archive.store.delete(pids)
    with archive.catalog.transaction() as db:
        for aid in article_ids:
            db.execute("DELETE FROM passages WHERE article_id = ?", (aid,))
            db.execute("DELETE FROM article_urls WHERE article_id = ?", (aid,))
            db.execute("DELETE FROM articles WHERE id = ?", (aid,))
        db.execute("DELETE FROM embedding_cache")
    with archive.writing():
        archive.sync_keywords()


def _ingest_cache(source: Path, settings: Any) -> dict[str, bytes]:
    """The embedding cache entries (key -> vector) of the ingest articles' passages, embedded once and kept under
    the cache folder: both ingests find their vectors in the project's embedding cache, so the ratio compares what
    the stores cost rather than the model's time (which is the same on both sides)."""
    from index.article import normalize_text
    from index.chunk import chunk_text
    from index.embed import CachedEmbedder, make_embedder
    from index.sources import read_sources

    texts: list[str] = []
    for record in read_sources([str(source)], settings):
        if isinstance(record, Exception):
            continue
        text = normalize_text(record.text)
        title = normalize_text(record.title).replace("\n", " ") or text.split("\n", 1)[0][:120]
        chunks = chunk_text(
            text, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap, tokenizer=settings.tokenizer
        )
        texts.extend(f"{title}\n{c.text}" for c in chunks)
    texts = list(dict.fromkeys(texts))
    keys = [CachedEmbedder.key(t) for t in texts]
    cached = CACHE / f"ingest-vectors-{hashlib.sha256(''.join(keys).encode()).hexdigest()[:16]}.npy"
    if cached.is_file():
        vectors = np.load(cached)
    else:
        started = time.perf_counter()
        model = make_embedder(settings.embedding_model, batch_size=settings.embedding_batch)
        vectors = np.vstack([model.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
        log(f"embedded the {len(texts)} ingest passages in {time.perf_counter() - started:.0f} s")
    return {k: vectors[i].astype(np.float32).tobytes() for i, k in enumerate(keys)}


def ingest_ratio(archive: Any, settings: Any, work: Path) -> dict[str, Any]:
    from index.archive import Archive

    source = work / "ingest.jsonl"
    with gzip.open(DATA / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = f.readlines()[-INGEST_ARTICLES:]
    source.write_text("".join(lines), encoding="utf-8")
    cache = _ingest_cache(source, settings)
    empty_settings = settings.model_copy(update={"home": work / "empty", "collection": f"scale_empty_{os.getpid()}"})
    with Archive(empty_settings) as empty:
        empty.catalog.cache_store(empty.model_id, cache)
        archive.catalog.cache_store(archive.model_id, cache)
        e_seconds, e_passages, e_embed = _ingest_once(empty, source)
        if settings.chroma_url:
            empty.store.drop()
    l_seconds, l_passages, l_embed = _ingest_once(archive, source)
    empty_rate, large_rate = e_passages / e_seconds, l_passages / l_seconds
    return {
        "ingest_passages": l_passages,
        "ingest_empty_passages_per_s": round(empty_rate, 1),
        "ingest_large_passages_per_s": round(large_rate, 1),
        "ingest_ratio": round(large_rate / empty_rate, 3),
        "ingest_seconds_empty": round(e_seconds, 2),
        "ingest_seconds_large": round(l_seconds, 2),
        "ingest_embedded": e_embed + l_embed,  # 0: every vector came from the embedding cache
    }


def disk_mb(path: Path) -> float:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed meanwhile
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return round(total / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, required=True, help="Archive size in passages.")
    parser.add_argument("--home", type=Path, default=None, help="The archive home (default: a temporary one).")
    parser.add_argument("--reuse", action="store_true", help="Measure the archive already built at --home.")
    parser.add_argument("--chroma-url", default=None, help="A Chroma server (http://host:port) for the vectors.")
    parser.add_argument("--build-only", action="store_true", help="Build the home and stop.")
    parser.add_argument("--no-ingest", action="store_true", help="Skip the ingest measurement.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        return run(args)
    except BenchError as exc:
        print(f"scale_bench: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.passages < 1:
        raise BenchError(f"--passages must be at least 1, not {args.passages}")
    if not (DATA / "articles.jsonl.gz").is_file():
        raise BenchError(f"{DATA / 'articles.jsonl.gz'} is absent: the build reads its passages from it")
    if args.home is not None and args.home.exists() and not args.home.is_dir():
        raise BenchError(f"--home {args.home} is a file, not a folder")
    temp = Path(tempfile.mkdtemp(prefix="briefbot-scale-"))
    try:
        home = args.home or temp / "home"
        meta_path = home / META
        if meta_path.is_file() and args.reuse:
            meta = json.loads(meta_path.read_text())
            if meta["requested"] != args.passages or meta.get("chroma_url") != args.chroma_url:
                raise BenchError(
                    f"{home} holds {meta['requested']:,} passages (chroma {meta.get('chroma_url') or 'local'}), "
                    f"not {args.passages:,} ({args.chroma_url or 'local'}): choose another --home"
                )
        elif home.exists() and any(home.iterdir()):
            raise BenchError(f"{home} is not empty: pass --reuse to measure the archive built there, or another --home")
        elif args.build_only:
            meta = build(home, args.passages, args.chroma_url)
        else:
            cmd = [sys.executable, __file__, "--passages", str(args.passages), "--home", str(home), "--build-only"]
            if args.chroma_url:
                cmd += ["--chroma-url", args.chroma_url]
            if subprocess.run(cmd, cwd=ROOT).returncode:
                raise BenchError(f"building {home} failed (its error is above)")
            meta = json.loads(meta_path.read_text())
        if args.build_only:
            print(json.dumps(meta))
            return 0
        result = measure(home, meta, args)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v}")
    return 0


def measure(home: Path, meta: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bot.settings import Settings
    from index.archive import Archive

    settings = Settings(home=home, chroma_url=args.chroma_url)
    result: dict[str, Any] = {"passages": meta["passages"]}
    with Archive(settings) as archive, tempfile.TemporaryDirectory(prefix="briefbot-scale-ingest-") as work:
        result.update(ask_latencies(archive, settings))
        if not args.no_ingest:
            result.update(ingest_ratio(archive, settings, Path(work)))
    result["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    result["disk_mb"] = disk_mb(home)
    result["disk_kb_per_passage"] = round(result["disk_mb"] * 1024 / max(1, meta["passages"]), 2)
    result["build_seconds"] = meta["build_seconds"]
    result["store"] = "server" if args.chroma_url else "local"
    result["cpus"] = os.cpu_count()
    return result


if __name__ == "__main__":
    sys.exit(main())
