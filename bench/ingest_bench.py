"""Ingest benchmark: the pipeline against the bare embedding model, on the same passages, in one run.

    python bench/ingest_bench.py [--articles 500] [--json]

1. Ingest the first N articles of ../shared/data/rtqa-2024/articles.jsonl.gz into a fresh home (a child process,
   so its peak memory is its own).
2. Embed exactly the texts the pipeline embedded (title + passage) with the bare ONNX model, same batch size.
3. Ingest the same articles again (nothing changed: nothing should be embedded).
Prints articles/s, passages/s, the share of pipeline time spent embedding, the ratio to bare embedding
throughput, the re-ingest speed-up and peak memory. Skips cleanly when the data is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rtqa-2024" / "articles.jsonl.gz"

CHILD = """
import json, sys, time, resource
from bot.settings import Settings
from index.archive import Archive
from index.ingest import ingest
from index.sources import read_sources
settings = Settings(home=sys.argv[1])
started = time.perf_counter()
archive = Archive(settings)
report = ingest(archive, read_sources([sys.argv[2]], settings))
total = time.perf_counter() - started
articles, passages = archive.catalog.counts()
print(json.dumps({"seconds": total, "embed_seconds": report.embed_seconds, "added": report.added,
                  "unchanged": report.unchanged, "embedded": report.embedded, "articles": articles,
                  "passages": passages, "failed": len(report.failed),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(home: Path, source: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(source)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent")
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as tmp:
        source = Path(tmp) / "articles.jsonl"
        with gzip.open(DATA, "rt", encoding="utf-8") as f, open(source, "w", encoding="utf-8") as out:
            out.writelines(islice(f, args.articles))
        home = Path(tmp) / "home"
        first = run_child(home, source)
        again = run_child(home, source)

        # The bare model on exactly the texts the pipeline embedded.
        import sqlite3

        from index.embed import LocalMiniLM

        db = sqlite3.connect(home / "catalog.sqlite3")
        texts = [f"{title}\n{text}" for title, text in db.execute("SELECT title, text FROM passages ORDER BY rowid")]
        db.close()
        model = LocalMiniLM(batch_size=16)
        model.embed(texts[:8])  # warm-up, as the pipeline's model is warmed by its first batch
        t = time.perf_counter()
        for i in range(0, len(texts), 256):
            model.embed(texts[i : i + 256])
        bare = time.perf_counter() - t
    n_pass = first["passages"]
    result = {
        "articles": first["articles"],
        "passages": n_pass,
        "failed": first["failed"],
        "pipeline_seconds": round(first["seconds"], 2),
        "pipeline_articles_per_s": round(first["articles"] / first["seconds"], 2),
        "pipeline_passages_per_s": round(n_pass / first["seconds"], 2),
        "embedding_share": round(first["embed_seconds"] / first["seconds"], 3),
        "bare_seconds": round(bare, 2),
        "bare_passages_per_s": round(n_pass / bare, 2),
        "pipeline_vs_bare": round(bare / first["seconds"], 3),
        "reingest_seconds": round(again["seconds"], 2),
        "reingest_embedded": again["embedded"],
        "reingest_speedup": round(first["seconds"] / again["seconds"], 1),
        "peak_rss_mb": round(first["peak_rss_mb"], 0),
        "bare_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k:>26}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
