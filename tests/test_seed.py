"""The question briefbot was started from, over the seed article among real distractors (../shared/data)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bot.answering import AnswerEngine
from bot.answering.verify import bare, quotes
from bot.settings import Settings
from index.archive import Archive
from index.ingest import ingest
from index.sources import read_sources


def test_what_did_the_kremlin_say_about_sanctions(shared_data: Path, tmp_path: Path) -> None:
    # Real distractors: rtqa articles about the Kremlin and sanctions (other statements, other years).
    distractors = tmp_path / "distractors.jsonl"
    with (
        gzip.open(shared_data / "rtqa-2024" / "articles.jsonl.gz", "rt", encoding="utf-8") as f,
        open(distractors, "w", encoding="utf-8") as out,
    ):
        kept = 0
        for line in f:
            text = json.loads(line)["text"]
            if "Kremlin" in text and "sanction" in text and len(text) < 6000:
                out.write(line)
                kept += 1
                if kept == 40:
                    break
    seed = shared_data / "seed" / "kremlin-sanctions.txt"
    settings = Settings()
    archive = Archive(settings)
    report = ingest(archive, read_sources([str(seed), str(distractors)], settings))
    assert report.failed == [] and report.added == kept + 1 and kept >= 10

    answer = AnswerEngine(archive, settings).answer_sync("What did the Kremlin say about sanctions?")
    assert not answer.abstained
    seed_text = seed.read_text(encoding="utf-8")
    first = answer.citations[0]
    assert first.url == seed.resolve().as_uri()  # the seed article is source [1]
    assert "illegal" in answer.text and "negative burden" in answer.text and "Peskov" in answer.text
    for q in quotes(answer.text.split("[1]")[0]):
        assert bare(q) in bare(seed_text)  # Peskov's words, verbatim
    archive.close()
