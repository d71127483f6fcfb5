"""The extractive reader's weights, measured on both question sets: the answer string in the reply, per set and
per kind, for each setting of ``bot.answering.extractive``'s weights.

    BRIEFBOT_HOME=<index> python bench/reader_ablation.py QUESTIONS [--set NAME=VALUE ...]
        [--grid NAME=V1,V2,...] [--limit N] [--json]

Each setting answers every question through ``bot.ask`` (as ``briefbot eval`` does); search's settings
(``FUSION``, ``DENSE_WEIGHT``, ``RECENCY``) can be set too, so Hit@1/5 are reported as well. Run it on
rtqa-2024 dev and newsqa-dev: a weight that helps one and hurts the other is not taken.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from typing import Any

from bot.answering import AnswerEngine, make_llm
from bot.answering import engine as answer_engine
from bot.answering import extractive as reader
from bot.ask import Asker
from bot.evaluate import has_answer, read_jsonl, run_questions
from bot.settings import load_settings
from index import search
from index.archive import Archive


def score(questions: list[dict[str, Any]], asker: Asker) -> dict[str, Any]:
    outcomes = {o.id: o for o in run_questions(asker, questions)}
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    at1 = at5 = 0
    for q in questions:
        o = outcomes[q["id"]]
        kind = q.get("kind", "all")
        total[kind] += 1
        hit[kind] += not o.abstained and has_answer(q["answer"], o.answer_text)
        first = next((i for i, p in enumerate(o.passages) if has_answer(q["answer"], p)), None)
        at1 += first == 0
        at5 += first is not None and first < 5
    n = sum(total.values())
    return {
        "Hit@1": round(at1 / n, 3),
        "Hit@5": round(at5 / n, 3),
        "answer_in_reply": round(sum(hit.values()) / n, 3),
        "by_kind": {k: round(hit[k] / total[k], 3) for k in sorted(total)} if len(total) > 1 else {},
        "abstained": round(sum(o.abstained for o in outcomes.values()) / n, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE for every run")
    parser.add_argument("--grid", action="append", default=[], help="NAME=V1,V2,... to compare")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = read_jsonl(args.questions)[: args.limit]
    settings = load_settings()
    archive = Archive(settings)
    asker = Asker(AnswerEngine(archive, settings, llm=make_llm(settings)))

    def put(name: str, value: str | float) -> None:
        module = search if hasattr(search, name) else answer_engine if hasattr(answer_engine, name) else reader
        setattr(module, name, value if name == "FUSION" else float(value))

    for item in args.set:
        put(*item.split("=", 1))
    names = [g.split("=", 1)[0] for g in args.grid]
    values = [g.split("=", 1)[1].split(",") for g in args.grid]
    rows = []
    for combo in itertools.product(*values) if values else [()]:
        for name, value in zip(names, combo, strict=True):
            put(name, value)
        result = {"setting": dict(zip(names, combo, strict=True)), **score(questions, asker)}
        rows.append(result)
        if not args.json:
            print(json.dumps(result))
    archive.close()
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
