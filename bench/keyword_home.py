"""An evaluation home for the keyword side alone, built in minutes instead of hours: the corpus goes through the
project's own ingest (passages, catalog, keyword index, Chroma) with random unit vectors in place of the model's.

    python bench/keyword_home.py ../shared/data/rtqa-2024/articles.jsonl.gz
    briefbot eval QUESTIONS --null NULL --corpus ../shared/data/rtqa-2024/articles.jsonl.gz --modes keyword

The home is the one ``briefbot eval --corpus`` uses for that corpus (under ``BRIEFBOT_HOME``), so the eval finds
every article unchanged and measures the keyword side on it. Only ``--modes keyword`` figures mean anything on
such a home: its vectors are noise. Use a ``BRIEFBOT_HOME`` of its own, never the one with the real evaluation
homes (embedding rtqa-2024 with the local model takes about three hours on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from bot.evaluate import eval_settings
from bot.settings import Settings
from index.archive import Archive
from index.ingest import ingest
from index.sources import read_sources


class RandomVectors:
    """Stands in for the embedding model: a random unit vector per text, of the model's width."""

    def __init__(self, model_id: str, width: int = 384) -> None:
        self.model_id, self.width = model_id, width
        self.rng = np.random.default_rng(0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.width)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", help="the JSONL(.gz) corpus briefbot eval --corpus will name")
    args = parser.parse_args()
    settings = eval_settings(Settings(), args.corpus)
    with Archive(settings) as archive:
        archive.embedder.inner = RandomVectors(archive.embedder.inner.model_id)
        report = ingest(archive, read_sources([args.corpus], settings))
        print(f"{settings.home}: {archive.stats().passages:,} passages ({report.added} articles added)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
