"""Fit the evidence test (``bot.answering.evidence``) on run files of both question sets, cross-validated.

    python bench/evidence_fit.py rtqa:<run.jsonl>:<questions_dev>:<questions_null> \\
        newsqa:<run.jsonl>:<questions.jsonl>:<null.jsonl> [--target 0.9] [--json]

Run files come from ``briefbot eval ... --run-out`` (each row carries the evidence features). A logistic model
over the features tells answerable questions from null ones, both sets together, each set weighing the same;
the abstention threshold is then set so that at least ``--target`` of each set's training null questions
abstain (the strictest set decides: one rule for every question, and no set's refusals left short). Everything is
judged out of sample by 5-fold cross-validation: null abstention and false abstention per set, and the weights.
The threshold's uncertainty (null sets are small) is the spread of the fold thresholds and a bootstrap interval
of the in-sample null abstention.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

FEATURES = [
    "similarity",
    "coverage",
    "lead_coverage",
    "lead_answers",
    "event_coverage",
    "preview",
    "rare_coverage",
    "terms",
    "names",
    "numbers",
]


def _rows(path: str) -> list[dict[str, Any]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(spec: str) -> list[dict[str, Any]]:
    name, run, dev, null = spec.split(":")
    runs = {r["id"]: r for r in _rows(run)}
    out = []
    for label, path in ((1, dev), (0, null)):
        for q in _rows(path):
            r = runs.get(q["id"])
            if r is None:
                continue
            x = [float(r["features"].get(f, 0.0)) for f in FEATURES] if r.get("features") else [0.0] * len(FEATURES)
            # No lead sentence at all: an abstention whatever the threshold.
            forced = (r["abstained"] and r.get("evidence", 0.0) >= 0) or not r.get("features")
            out.append({"set": name, "id": q["id"], "y": label, "x": x, "forced": bool(forced)})
    return out


def fit(rows: Sequence[dict[str, Any]], l2: float = 1.0, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Logistic regression (each set and class weighing the same), by gradient descent on standardised features;
    returns weights and bias in the features' own units."""
    x = np.array([r["x"] for r in rows], dtype=float)
    y = np.array([r["y"] for r in rows], dtype=float)
    groups: dict[tuple[str, int], int] = {}
    for r in rows:
        groups[(r["set"], r["y"])] = groups.get((r["set"], r["y"]), 0) + 1
    weight = np.array([1.0 / groups[(r["set"], r["y"])] for r in rows])
    weight /= weight.mean()
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = (p - y) * weight
        w -= 0.1 * ((z.T @ g) / len(y) + l2 * w / len(y))
        b -= 0.1 * g.mean()
    return w / sd, float(b - (w / sd) @ mu)


def threshold(scores: Sequence[float], target: float) -> float:
    """The lowest score that makes ``target`` of these (null) scores fall below it."""
    ordered = sorted(scores)
    cut = min(len(ordered) - 1, max(0, math.ceil(target * len(ordered)) - 1))
    return math.nextafter(ordered[cut], math.inf)


def set_threshold(rows: Sequence[dict[str, Any]], w: np.ndarray, b: float, target: float) -> float:
    """The lowest threshold at which ``target`` of every set's null questions abstain."""
    sets = sorted({r["set"] for r in rows})
    return max(
        threshold([float(np.dot(w, r["x"]) + b) for r in rows if r["y"] == 0 and r["set"] == name], target)
        for name in sets
    )


def judge(rows: Sequence[dict[str, Any]], w: np.ndarray, b: float, t: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in sorted({r["set"] for r in rows}):
        mine = [r for r in rows if r["set"] == name]
        abst = [r["forced"] or float(np.dot(w, r["x"]) + b) < t for r in mine]
        nulls = [a for a, r in zip(abst, mine, strict=True) if r["y"] == 0]
        devs = [a for a, r in zip(abst, mine, strict=True) if r["y"] == 1]
        out[name] = {
            "null_abstention": sum(nulls) / max(1, len(nulls)),
            "false_abstention": sum(devs) / max(1, len(devs)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", help="name:run.jsonl:answerable.jsonl:null.jsonl")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [r for spec in args.sets for r in load(spec)]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    fold = {i: n % args.folds for n, i in enumerate(order)}
    held: list[tuple[dict[str, Any], bool]] = []
    thresholds = []
    for f in range(args.folds):
        train = [r for i, r in enumerate(rows) if fold[i] != f]
        test = [r for i, r in enumerate(rows) if fold[i] == f]
        w, b = fit(train)
        t = set_threshold(train, w, b, args.target)
        thresholds.append(t)
        for r in test:
            held.append((r, r["forced"] or float(np.dot(w, r["x"]) + b) < t))
    cv: dict[str, dict[str, float]] = {}
    for name in sorted({r["set"] for r in rows}):
        mine = [(r, a) for r, a in held if r["set"] == name]
        nulls = [a for r, a in mine if r["y"] == 0]
        devs = [a for r, a in mine if r["y"] == 1]
        cv[name] = {"null_abstention": sum(nulls) / len(nulls), "false_abstention": sum(devs) / len(devs)}
    w, b = fit(rows)
    t = set_threshold(rows, w, b, args.target)
    insample = judge(rows, w, b, t)
    rng = random.Random(1)
    boot: dict[str, list[float]] = {}
    for name in sorted({r["set"] for r in rows}):
        nulls = [r for r in rows if r["y"] == 0 and r["set"] == name]
        for _ in range(1000):
            sample = [rng.choice(nulls) for _ in nulls]
            share = sum(r["forced"] or float(np.dot(w, r["x"]) + b) < t for r in sample) / len(sample)
            boot.setdefault(name, []).append(share)
        boot[name].sort()
    report = {
        "features": FEATURES,
        "weights": {f: round(float(v), 4) for f, v in zip(FEATURES, w, strict=True)},
        "bias": round(b - t, 4),  # the code's form: score = bias + sum(w * x), answer when score >= 0
        "in_sample": insample,
        "cross_validated": cv,
        "fold_thresholds": [round(x - t, 4) for x in thresholds],
        "null_abstention_95": {name: [round(v[25], 3), round(v[974], 3)] for name, v in boot.items()},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
