"""How far re-ranking the hybrid search's candidates could go, and how far the features we have take it.

    BRIEFBOT_HOME=<rtqa index> python bench/rerank_ceiling.py [--questions questions_dev.jsonl.gz] [--json]

The index is the one ``make eval`` builds (the whole rtqa-2024 corpus). For every question (its ``date`` as
"today", as ``briefbot eval`` does) the engine retrieves its top 100 passages (at most two an article, from 100
candidates a side). Reported:

1. **Candidate recall:** the share of questions with an answer-bearing passage in the top k, k up to 100. Hit@5
   of any re-ranker of these candidates is at most Hit@100.
2. **A learned re-ranker:** logistic regression over 13 features of each passage (cosine, both ranks, IDF-weighted
   coverage of the question in passage and title, rarest words, bigrams, age against the question's date, passage
   length, fused score), trained on four fifths of the weeks and judged on the fifth (5 folds), against the
   engine's own order on the same candidates.

Skips cleanly when the data or the index is absent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bot.answering import AnswerEngine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "rtqa-2024"
K = 100
FEATURES = [
    "cosine", "dense_rank", "keyword_rank", "coverage", "coverage_passage", "coverage_title", "rare", "bigrams",
    "log_age", "week", "month", "log_length", "fused",
]  # fmt: skip
_WORDS = re.compile(r"[\w'’-]+")


def features(engine: AnswerEngine, question: dict[str, Any]) -> tuple[list[list[float]], list[bool]]:
    """The top K hits of one question as feature rows, and whether each holds the answer."""
    from bot.evaluate import has_answer, unit
    from index.terms import query_terms, stem

    today = date.fromisoformat(question["date"])
    hits, evidence = engine.retrieve(question["question"], today=today, k=K)
    weights: dict[str, float] = {}
    for t in query_terms(evidence.query):
        weights[stem(t)] = max(weights.get(stem(t), 0.0), engine.idf(t))
    total = sum(weights.values()) or 1.0
    rare = sorted(weights, key=lambda t: -weights[t])[:3]
    stems = [stem(t) for t in query_terms(evidence.query)]
    bigrams = set(itertools.pairwise(stems))
    rows: list[list[float]] = []
    labels: list[bool] = []
    for h in hits:
        body = [stem(w) for w in _WORDS.findall(h.text)]
        in_text, in_title = set(body), {stem(w) for w in _WORDS.findall(h.title)}
        age = max(0, (today - h.published.date()).days) if h.published else 3650
        rows.append(
            [
                h.similarity,
                1 / (61 + h.dense_rank) if h.dense_rank is not None else 0.0,
                1 / (61 + h.keyword_rank) if h.keyword_rank is not None else 0.0,
                sum(w for t, w in weights.items() if t in in_text or t in in_title) / total,
                sum(w for t, w in weights.items() if t in in_text) / total,
                sum(w for t, w in weights.items() if t in in_title) / total,
                sum(t in in_text or t in in_title for t in rare) / max(1, len(rare)),
                len(bigrams & set(itertools.pairwise(body))) / max(1, len(bigrams)),
                math.log1p(age),
                float(age <= 7),
                float(age <= 31),
                math.log1p(len(h.text)),
                h.score,
            ]
        )
        labels.append(has_answer(question["answer"], unit(h.title, h.text)))
    return rows, labels


def fit(x: np.ndarray, y: np.ndarray, *, l2: float = 0.01, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Logistic regression by gradient descent on standardised features (weights apply to standardised x)."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = p - y
        w -= 0.5 * (x.T @ g / len(y) + l2 * w)
        b -= 0.5 * float(g.mean())
    return w, b


def ranked_metrics(scores: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, float]:
    hit1 = hit5 = rr = 0.0
    for s, y in zip(scores, labels, strict=True):
        order = y[np.argsort(-s, kind="stable")][:10]
        hit1 += bool(order[:1].any())
        hit5 += bool(order[:5].any())
        first = np.flatnonzero(order)
        rr += 1 / (first[0] + 1) if len(first) else 0.0
    n = len(scores) or 1
    return {"Hit@1": hit1 / n, "Hit@5": hit5 / n, "MRR@10": rr / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", default=str(DATA / "questions_dev.jsonl.gz"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not Path(args.questions).is_file():
        print(f"skipped: {args.questions} is absent")
        return 0
    from bot.answering import AnswerEngine
    from bot.evaluate import read_jsonl
    from bot.settings import load_settings
    from index.archive import Archive

    settings = load_settings()
    if not (settings.home / "catalog.sqlite3").is_file() or not os.environ.get("BRIEFBOT_HOME"):
        print("skipped: set BRIEFBOT_HOME to an index of the whole rtqa corpus (make eval builds one)")
        return 0
    archive = Archive(settings)
    engine = AnswerEngine(archive, settings)
    questions = read_jsonl(args.questions)
    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    weeks: list[str] = []
    for q in questions:
        found, marks = features(engine, q)
        rows.append(np.asarray(found, dtype=float).reshape(-1, len(FEATURES)))
        labels.append(np.asarray(marks, dtype=bool))
        weeks.append(str(q.get("week") or q["date"]))
    archive.close()

    n = len(questions)
    recall = {f"Hit@{k}": sum(bool(y[:k].any()) for y in labels) / n for k in (1, 5, 10, 20, 50, 100)}
    engine_order = [-np.arange(len(y), dtype=float) for y in labels]  # the engine's own ranking
    learned: list[np.ndarray] = [np.zeros(len(y)) for y in labels]
    distinct = sorted(set(weeks))
    for f in range(args.folds):
        held = {w for i, w in enumerate(distinct) if i % args.folds == f}
        train = [i for i, w in enumerate(weeks) if w not in held and len(labels[i])]
        x = np.vstack([rows[i] for i in train])
        y = np.concatenate([labels[i] for i in train]).astype(float)
        mu, sd = x.mean(0), x.std(0) + 1e-9
        w, b = fit((x - mu) / sd, y)
        for i, wk in enumerate(weeks):
            if wk in held and len(labels[i]):
                learned[i] = ((rows[i] - mu) / sd) @ w + b
    report: dict[str, Any] = {
        "questions": n,
        "candidate_recall": recall,
        "engine_order": ranked_metrics(engine_order, labels),
        "learned_reranker_cross_validated": ranked_metrics(learned, labels),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{n} questions, top {K} passages each")
    print("candidate recall: " + "  ".join(f"{k} {v:.3f}" for k, v in recall.items()))
    for name in ("engine_order", "learned_reranker_cross_validated"):
        m = report[name]
        print(f"{name:>34}: Hit@1 {m['Hit@1']:.3f}  Hit@5 {m['Hit@5']:.3f}  MRR@10 {m['MRR@10']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
