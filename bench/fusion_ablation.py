"""Fusion of the dense and keyword sides, measured on question sets and chosen by cross-validation over them.

    python bench/fusion_ablation.py collect --home <index> --questions Q.jsonl[.gz] --out cands.pkl
    python bench/fusion_ablation.py compare cands-rtqa.pkl cands-newsqa.pkl [--json]

``collect`` runs each question's retrieval as the engine does (the follow-up rules, the question's window, the
"as of" bound of its date) and keeps both sides' top 100 candidates with their scores, their article's date and
whether they hold the answer. ``compare`` scores fusion functions offline on those candidates (Hit@1/5/10 after
the recency prior and the per-article cap, as ``index.search`` applies them): reciprocal rank fusion (RRF, equal
and weighted), a convex combination of normalised scores (Bruch et al. 2023: min-max and theoretical-min
normalisation), and a combination whose weight leans on BM25 for questions that name rare words. Each family's
parameters are chosen on four fifths of the questions of both sets together and judged on the fifth left out
(5-fold cross-validation), so what is reported is out of sample.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

CANDIDATES = 100


@dataclass
class Question:
    id: str
    set: str
    dense: list[tuple[str, float]]  # (passage id, cosine)
    keyword: list[tuple[str, float]]  # (passage id, BM25: higher is better)
    article: dict[str, str] = field(default_factory=dict)  # passage id -> article id
    age_days: dict[str, float] = field(default_factory=dict)  # passage id -> age of its article at the question
    hit: set[str] = field(default_factory=set)  # passages holding the answer
    rare: float = 0.0  # the highest IDF among the query's words, over the log of the passage count


def collect(home: str, questions_path: str, out: str, limit: int | None, name: str | None = None) -> None:
    from bot.answering import AnswerEngine, QuestionContext
    from bot.answering.engine import as_datetime, end_of_day, publication_window
    from bot.answering.followup import standalone_query
    from bot.evaluate import has_answer, read_jsonl, unit
    from bot.settings import Settings
    from index.archive import Archive
    from index.search import SearchFilters, with_window
    from index.terms import query_terms
    from index.timewin import strip_window

    settings = Settings(home=Path(home))
    archive = Archive(settings)
    engine = AnswerEngine(archive, settings)
    searcher = engine.searcher
    n_passages = max(2, archive.catalog.counts()[1])
    name = name or Path(questions_path).name.split(".")[0]
    rows: list[Question] = []
    for q in read_jsonl(questions_path)[:limit]:
        now = as_datetime(date.fromisoformat(q["date"])) if q.get("date") else datetime.now().astimezone()
        context = QuestionContext(today=now)
        query = standalone_query(q["question"], context.history)
        window = publication_window(query, now)
        filters = SearchFilters()
        if window is not None:
            filters = with_window(filters, window.start, window.end)
            query = strip_window(query, window) or query
        filters = with_window(filters, None, end_of_day(now), undated=True)
        dense = searcher.dense(searcher.embed_query(query), CANDIDATES, filters)
        keyword = searcher.keyword(query, CANDIDATES, filters)
        ids = list(dict.fromkeys([p for p, _ in dense] + [p for p, _ in keyword]))
        passages = archive.catalog.passages(ids)
        articles = archive.catalog.articles(p.article_id for p in passages.values())
        item = Question(q["id"], name, dense, keyword)
        for pid, p in passages.items():
            a = articles.get(p.article_id)
            if a is None:
                continue
            item.article[pid] = p.article_id
            if a.published:
                item.age_days[pid] = max(0.0, (now - a.published).total_seconds() / 86400)
            if has_answer(q["answer"], unit(a.title, p.text)):
                item.hit.add(pid)
        weights = [engine.idf(t) for t in query_terms(query)]
        item.rare = max(weights, default=0.0) / math.log(n_passages)
        rows.append(item)
    archive.close()
    with open(out, "wb") as f:
        pickle.dump(rows, f)
    print(f"{len(rows)} questions from {questions_path} -> {out}")


# -- fusion functions ---------------------------------------------------------------------------------------------

Fusion = Callable[[Question], dict[str, float]]


def rrf(k: float = 60.0, dense_weight: float = 1.0, keyword_weight: float = 1.0) -> Fusion:
    def fuse(q: Question) -> dict[str, float]:
        scores: dict[str, float] = {}
        for weight, ranking in ((dense_weight, q.dense), (keyword_weight, q.keyword)):
            for rank, (pid, _) in enumerate(ranking):
                scores[pid] = scores.get(pid, 0.0) + weight / (k + rank + 1)
        return scores

    return fuse


def _normalised(ranking: Sequence[tuple[str, float]], floor: float | None) -> dict[str, float]:
    """Min-max (``floor`` None) or theoretical-min normalisation of one side's scores to [0, 1]."""
    if not ranking:
        return {}
    top = max(s for _, s in ranking)
    low = min(s for _, s in ranking) if floor is None else floor
    span = top - low
    return {pid: (s - low) / span if span > 0 else 1.0 for pid, s in ranking}


def convex(alpha: float, theoretical: bool) -> Fusion:
    """``alpha`` * dense + (1 - alpha) * keyword, each normalised; a side that missed a passage gives it 0."""

    def fuse(q: Question) -> dict[str, float]:
        dense = _normalised(q.dense, 0.0 if theoretical else None)
        keyword = _normalised(q.keyword, 0.0 if theoretical else None)
        return {p: alpha * dense.get(p, 0.0) + (1 - alpha) * keyword.get(p, 0.0) for p in {*dense, *keyword}}

    return fuse


def adaptive(low: float, high: float, pivot: float, theoretical: bool) -> Fusion:
    """The convex combination, its dense weight ``high`` for questions of common words and ``low`` for questions
    naming a word rarer than ``pivot`` (IDF over log N): names and numbers are BM25's strength."""

    def fuse(q: Question) -> dict[str, float]:
        return convex(low if q.rare >= pivot else high, theoretical)(q)

    return fuse


RECENCY_DAYS = 30.0


def ranked(q: Question, scores: dict[str, float], recency: float, per_article: int = 2, k: int = 10) -> list[str]:
    fused = []
    for pid, score in scores.items():
        if pid not in q.article:
            continue
        age = q.age_days.get(pid)
        if recency and age is not None:
            score *= 1.0 + recency * math.exp(-age / RECENCY_DAYS)
        fused.append((score, pid))
    fused.sort(reverse=True)
    out: list[str] = []
    per: dict[str, int] = {}
    for _, pid in fused:
        aid = q.article[pid]
        if per.get(aid, 0) >= per_article:
            continue
        per[aid] = per.get(aid, 0) + 1
        out.append(pid)
        if len(out) >= k:
            break
    return out


def metrics(questions: Sequence[Question], fusion: Fusion, recency: float) -> dict[str, float]:
    h1 = h5 = h10 = 0
    for q in questions:
        top = ranked(q, fusion(q), recency)
        first = next((i for i, p in enumerate(top) if p in q.hit), None)
        h1 += first is not None and first < 1
        h5 += first is not None and first < 5
        h10 += first is not None
    n = len(questions) or 1
    return {"Hit@1": h1 / n, "Hit@5": h5 / n, "Hit@10": h10 / n}


def objective(questions: Sequence[Question], fusion: Fusion, recency: float) -> float:
    """What parameters are chosen by: Hit@1 + Hit@5, each set weighing the same whatever its size."""
    sets = sorted({q.set for q in questions})
    values = []
    for name in sets:
        m = metrics([q for q in questions if q.set == name], fusion, recency)
        values.append(m["Hit@1"] + m["Hit@5"])
    return statistics.fmean(values)


FAMILIES: dict[str, list[tuple[dict[str, Any], Fusion]]] = {}


def families() -> dict[str, list[tuple[dict[str, Any], Fusion]]]:
    grid: dict[str, list[tuple[dict[str, Any], Fusion]]] = {
        "RRF k=60 (today)": [({"k": 60}, rrf())],
        "RRF weighted": [
            ({"k": k, "dense": w}, rrf(k, w, 1.0)) for k in (10, 30, 60) for w in (0.3, 0.5, 0.7, 1.0, 1.5)
        ],
        "convex, min-max": [({"alpha": a}, convex(a, False)) for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)],
        "convex, theoretical min": [({"alpha": a}, convex(a, True)) for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)],
        "convex, weight by rare words": [
            ({"low": lo, "high": hi, "pivot": pv}, adaptive(lo, hi, pv, True))
            for lo in (0.1, 0.2, 0.3)
            for hi in (0.4, 0.5, 0.6, 0.7)
            for pv in (0.5, 0.6, 0.7)
        ],
        "keyword only": [({}, convex(0.0, True))],
        "dense only": [({}, convex(1.0, True))],
    }
    return grid


def cross_validate(
    questions: list[Question], options: list[tuple[dict[str, Any], Fusion]], recencies: Sequence[float], folds: int = 5
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    order = list(range(len(questions)))
    random.Random(0).shuffle(order)
    fold_of = {questions[i].id + questions[i].set: n % folds for n, i in enumerate(order)}
    picked: list[dict[str, Any]] = []
    held: dict[str, list[Question]] = {}
    results: dict[str, dict[str, list[tuple[int, int, int]]]] = {}
    for f in range(folds):
        train = [q for q in questions if fold_of[q.id + q.set] != f]
        test = [q for q in questions if fold_of[q.id + q.set] == f]
        best = max(
            ((params, fusion, r) for params, fusion in options for r in recencies),
            key=lambda x: objective(train, x[1], x[2]),
        )
        picked.append({**best[0], "recency": best[2]})
        for q in test:
            held.setdefault(q.set, []).append(q)
            top = ranked(q, best[1](q), best[2])
            first = next((i for i, p in enumerate(top) if p in q.hit), None)
            results.setdefault(q.set, {}).setdefault("x", []).append(
                (first is not None and first < 1, first is not None and first < 5, first is not None)
            )
    out = {}
    for name, r in results.items():
        rows = r["x"]
        out[name] = {
            "Hit@1": sum(a for a, _, _ in rows) / len(rows),
            "Hit@5": sum(b for _, b, _ in rows) / len(rows),
            "Hit@10": sum(c for _, _, c in rows) / len(rows),
        }
    return out, picked


def compare(paths: Sequence[str], as_json: bool) -> None:
    questions: list[Question] = []
    for path in paths:
        with open(path, "rb") as f:
            questions += pickle.load(f)
    sets = sorted({q.set for q in questions})
    report: dict[str, Any] = {}
    for family, options in families().items():
        fixed = len(options) == 1
        recencies = (0.1,) if fixed else (0.0, 0.1, 0.3)
        if fixed:
            params, fusion = options[0]
            scores = {s: metrics([q for q in questions if q.set == s], fusion, 0.1) for s in sets}
            report[family] = {"cross_validated": scores, "picked": [params]}
        else:
            scores, picked = cross_validate(questions, options, recencies)
            report[family] = {"cross_validated": scores, "picked": picked}
    # The recency prior on its own: strength and reach, with today's fusion and the best family's first pick.
    decay: dict[str, dict[str, dict[str, float]]] = {}
    global RECENCY_DAYS
    for days in (7.0, 30.0, 90.0):
        RECENCY_DAYS = days
        for strength in (0.0, 0.1, 0.2, 0.3, 0.5):
            key = f"strength {strength}, {days:g} days"
            decay[key] = {s: metrics([q for q in questions if q.set == s], rrf(), strength) for s in sets}
    RECENCY_DAYS = 30.0
    report["recency (RRF k=60)"] = {"decay": decay}
    if as_json:
        print(json.dumps(report, indent=1))
        return
    header = " | ".join(f"{s} Hit@1 | {s} Hit@5 | {s} Hit@10" for s in sets)
    print(f"| fusion (5-fold cross-validated over {' + '.join(sets)}) | {header} | parameters picked per fold |")
    print("|---" * (2 + 3 * len(sets)) + "|")
    for family, r in report.items():
        if "decay" in r:
            continue
        cells = " | ".join(
            f"{r['cross_validated'][s]['Hit@1']:.3f} | {r['cross_validated'][s]['Hit@5']:.3f} | "
            f"{r['cross_validated'][s]['Hit@10']:.3f}"
            for s in sets
        )
        picks = "; ".join(",".join(f"{k}={v}" for k, v in p.items()) for p in r["picked"])
        print(f"| {family} | {cells} | {picks} |")
    print()
    print(f"| recency prior (RRF k=60): strength, reach | {header} |")
    print("|---" * (1 + 3 * len(sets)) + "|")
    for key, scores in report["recency (RRF k=60)"]["decay"].items():
        cells = " | ".join(
            f"{scores[s]['Hit@1']:.3f} | {scores[s]['Hit@5']:.3f} | {scores[s]['Hit@10']:.3f}" for s in sets
        )
        print(f"| {key} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--home", required=True)
    c.add_argument("--questions", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--limit", type=int, default=None)
    c.add_argument("--name", default=None, help="the set's name in reports (default: the file's)")
    m = sub.add_parser("compare")
    m.add_argument("candidates", nargs="+")
    m.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.home, args.questions, args.out, args.limit, args.name)
    else:
        compare(args.candidates, args.json)


if __name__ == "__main__":
    main()
