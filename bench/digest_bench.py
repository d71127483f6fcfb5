"""Digest benchmark: composing a digest over a day of already-embedded articles, and the clustering it found.

    python bench/digest_bench.py --home /tmp/briefbot-digest-home [--articles 1000] [--repeats 5] [--json]
    python bench/digest_bench.py --calibrate        # the clustering margins on the demo corpus

1. Build (once) a home from the first N articles of ../shared/data/rtqa-2024/articles.jsonl.gz with their
   publication times rewritten into one day (spread evenly over it). Embedding 1,000 articles takes about ten
   minutes on 2 cores, so the home is kept: a later run with the same ``--home`` and ``--articles`` reuses it.
2. Compose the day's digest ``--repeats`` times and report the median and fastest seconds, the stage timings and
   the clustering stats of the last run, and the top stories.

``--calibrate`` ingests the demo corpus into a temporary home and prints, for lead-passage and mean-of-passages
vectors, the lowest similarity within its four three-outlet stories and the highest between different stories:
the margin the thresholds in ``bot.cluster.ClusterParams`` sit in. Skips cleanly when the data is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rtqa-2024" / "articles.jsonl.gz"
DEMO = ROOT / "bot" / "demo" / "articles.jsonl"
DAY = datetime(2024, 6, 3, tzinfo=UTC)
# The demo corpus's three-outlet stories, by URL fragment.
DEMO_STORIES = {
    "sanctions": ("tervania-rejects", "korvisk-says", "sanctions-row"),
    "blackout": ("substation-fire", "power-mostly-restored", "minister-orders-grid"),
    "rates": ("raises-rates", "central-bank-hikes", "homeowners-brace"),
    "storm": ("storm-edda-floods", "edda-one-dead", "counts-cost-of-edda"),
}


def _settings(home: Path) -> Settings:
    os.environ.setdefault("BRIEFBOT_CONFIG", str(home / "no-such-briefbot.toml"))
    from bot.settings import Settings

    return Settings(home=home)


def build_home(home: Path, n: int) -> dict[str, object]:
    """Ingest the first ``n`` rtqa articles, dated into one day, unless ``home`` already holds them."""
    from index.archive import Archive
    from index.article import ArticleRecord
    from index.ingest import ingest
    from index.sources import read_sources

    marker = home / "digest-bench.json"
    if marker.is_file():
        built = json.loads(marker.read_text())
        if built.get("requested") == n:
            return {**built, "reused": True}
        raise SystemExit(f"{home} was built for {built.get('requested')} articles, not {n}: use another --home")
    with tempfile.TemporaryDirectory(prefix="briefbot-digest-bench-") as tmp:
        source = Path(tmp) / "articles.jsonl"
        with gzip.open(DATA, "rt", encoding="utf-8") as f, open(source, "w", encoding="utf-8") as out:
            out.writelines(islice(f, n))
        settings = _settings(home)
        step = timedelta(seconds=86400 / max(1, n))
        records = [
            replace(item, published=DAY + k * step)
            for k, item in enumerate(read_sources([str(source)], settings))
            if isinstance(item, ArticleRecord)
        ]
    started = time.perf_counter()
    archive = Archive(settings)

    shown = [-1]

    def progress(report: object) -> None:
        done = getattr(report, "added", 0) + getattr(report, "unchanged", 0)
        if done != shown[0]:
            shown[0] = done
            print(f"  ingested {done}/{len(records)}", file=sys.stderr, flush=True)

    report = ingest(archive, records, progress=progress)
    articles, passages = archive.catalog.counts()
    archive.close()
    built = {
        "requested": n,
        "articles": articles,
        "passages": passages,
        "duplicates_at_ingest": report.duplicates,
        "ingest_seconds": round(time.perf_counter() - started, 1),
    }
    marker.write_text(json.dumps(built))
    return {**built, "reused": False}


def bench(home: Path, n: int, repeats: int, topic: str | None) -> dict[str, object]:
    from bot.digest import compose_digest
    from index.archive import Archive

    built = build_home(home, n)
    archive = Archive(_settings(home))
    times = []
    digest = None
    for _ in range(repeats):
        t = time.perf_counter()
        digest = compose_digest(archive, since=DAY, until=DAY + timedelta(days=1), max_stories=8)
        times.append(time.perf_counter() - t)
    assert digest is not None
    result: dict[str, object] = {
        "home": str(home),
        **built,
        "window_articles": int(digest.stats.get("window_articles", 0)),
        "compose_seconds_median": round(statistics.median(times), 3),
        "compose_seconds_min": round(min(times), 3),
        "compose_seconds_all": [round(x, 3) for x in times],
        "stages": {k: round(v, 4) for k, v in digest.stats.items() if k.endswith("seconds")},
        "clustering": {
            k.removeprefix("cluster_"): v
            for k, v in digest.stats.items()
            if k.startswith("cluster_") and not k.endswith("seconds")
        },
        "top_stories": [
            {"headline": s.headline, "outlets": len(s.outlets), "articles": len(s.citations)} for s in digest.stories
        ],
        "cpus": os.cpu_count(),
    }
    if topic:
        compose_digest(archive, since=DAY, until=DAY + timedelta(days=1), topic=topic)  # loads the model
        t = time.perf_counter()
        brief = compose_digest(archive, since=DAY, until=DAY + timedelta(days=1), topic=topic)
        result["topic"] = {
            "topic": topic,
            "seconds": round(time.perf_counter() - t, 3),
            "stories": [s.headline for s in brief.stories],
        }
    archive.close()
    return result


def calibrate() -> dict[str, object]:
    """The similarity margins of the demo corpus's stories, for lead and mean-of-passages vectors."""
    import numpy as np

    from index.archive import Archive
    from index.ingest import ingest
    from index.sources import read_sources

    with tempfile.TemporaryDirectory(prefix="briefbot-calibrate-") as tmp:
        settings = _settings(Path(tmp) / "home")
        archive = Archive(settings)
        ingest(archive, read_sources([str(DEMO)], settings))
        rows = archive.catalog.db.execute("SELECT id, url, title, text FROM articles ORDER BY published_ts").fetchall()
        passages = archive.catalog.db.execute("SELECT id, article_id, idx FROM passages").fetchall()
        vectors = archive.store.vectors([p[0] for p in passages])
        archive.close()
    by_article: dict[str, list[tuple[int, np.ndarray]]] = {}
    for pid, aid, idx in passages:
        by_article.setdefault(aid, []).append((idx, vectors[pid]))
    story = {k: name for k, r in enumerate(rows) for name, keys in DEMO_STORIES.items() if any(x in r[1] for x in keys)}

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v)

    from bot.digest.cluster import _idf, _names, _pair_overlaps

    names = [_names(r[2], r[3]) for r in rows]
    _, names_overlap = _pair_overlaps(names, _idf(names))
    out: dict[str, object] = {}
    for kind in ("lead", "mean"):
        if kind == "lead":
            m = np.stack([unit(min(by_article[r[0]], key=lambda p: p[0])[1]) for r in rows])
        else:
            m = np.stack([unit(np.mean([v for _, v in by_article[r[0]]], axis=0)) for r in rows])
        sim = m @ m.T
        same, other = [], []
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                pair = (
                    round(float(sim[i, j]), 3),
                    round(float(names_overlap[i, j]), 3),
                    rows[i][2][:40],
                    rows[j][2][:40],
                )
                (same if story.get(i) is not None and story.get(i) == story.get(j) else other).append(pair)
        out[kind] = {
            "lowest_within_story": min(same),
            "highest_between_stories": max(other),
            "lowest_names_within_story": min(same, key=lambda p: p[1]),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "briefbot-digest-bench")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--topic", help="also time a topic brief over the day")
    parser.add_argument("--calibrate", action="store_true", help="print the demo corpus's clustering margins")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.calibrate:
        result = calibrate()
    elif not DATA.is_file():
        print(json.dumps({"skipped": f"{DATA} is absent"}))
        return 0
    else:
        result = bench(args.home, args.articles, args.repeats, args.topic)
    if args.json or args.calibrate:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
