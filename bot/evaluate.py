"""Evaluation on question sets with known answers (rtqa-2024's and newsqa-dev's format): retrieval and answer
quality, abstention, latency; ``briefbot eval`` is ``evaluate`` and ``report_lines``.

Questions go through ``bot.ask.Asker``, the entry every front door uses, so what is measured is what users get.
Retrieval uses the DPR convention of ``shared/data/rtqa-2024/score.py``: a passage is a hit when it contains the
answer string after normalisation. The run file we write is the one that scorer reads.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import statistics
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.answering import AnswerEngine, QuestionContext, make_llm
from bot.answering.verify import bare, claims, markers, quotes
from bot.ask import Asker
from bot.settings import Settings
from index.archive import Archive
from index.errors import BriefbotError
from index.ingest import IngestReport, ingest
from index.sources import read_sources

_QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"',
    "\u201e": '"', "\u2033": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " ",
}  # fmt: skip
_QTABLE = str.maketrans(_QUOTES)
MODES = ("hybrid", "dense", "keyword")


def norm(text: str) -> str:
    """score.py's normalisation: NFKC, ASCII quotes and dashes, white space collapsed, casefold."""
    return " ".join(unicodedata.normalize("NFKC", text or "").translate(_QTABLE).split()).casefold()


def has_answer(answer: str, passage: str) -> bool:
    return norm(answer) in norm(passage)


def unit(title: str, text: str) -> str:
    """A retrieved passage as the index holds it: its article's title and its text (both are searched)."""
    return f"{title}\n{text}" if title else text


def read_jsonl(path: str | Path, *, answers: bool = True) -> list[dict[str, Any]]:
    """Rows of a .jsonl or .jsonl.gz question file; ``answers``: each row must give its answer (a file of
    questions the archive cannot answer need not)."""
    p = Path(path)
    if p.is_dir():
        raise BriefbotError(f"{path}: a folder, not a question file")
    if not p.is_file():
        raise BriefbotError(f"{path}: no such file")
    opener: Callable[..., Any] = gzip.open if p.name.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BriefbotError(f"{path}: not a JSONL question file ({exc})") from None
    if not rows:
        raise BriefbotError(f"{path}: no questions in it")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "id" not in row or "question" not in row:
            raise BriefbotError(f"{path}:{i}: a question needs 'id' and 'question'")
        for key in ("question", "answer") if answers else ("question",):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise BriefbotError(f"{path}:{i}: '{key}' must be a non-empty string")
        if not answers and row.get("answer") is not None and not isinstance(row["answer"], str):
            raise BriefbotError(f"{path}:{i}: 'answer' must be a string when given")
        if row.get("date") is not None:
            try:
                date.fromisoformat(str(row["date"]))
            except ValueError:
                raise BriefbotError(f"{path}:{i}: 'date' must be a date as YYYY-MM-DD, not {row['date']!r}") from None
    return rows


def check_writable(path: str | Path) -> None:
    """Fail now, not after an hour of questions, when the run file cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise BriefbotError(f"{path}: a folder; --run-out needs a file name")
    if not p.parent.is_dir():
        raise BriefbotError(f"{path}: its folder {p.parent} does not exist")
    try:
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise BriefbotError(f"{path}: cannot be written ({exc.strerror})") from None


@dataclass
class Outcome:
    """One question's result."""

    id: str
    passages: list[str]
    answer_text: str
    abstained: bool
    seconds: float
    quotes: int = 0
    quotes_verbatim: int = 0
    mode_passages: dict[str, list[str]] = field(default_factory=dict)
    score: float = 0.0  # the evidence score the abstention threshold is calibrated on, and its features
    features: dict[str, float] = field(default_factory=dict)
    forced: bool = False  # abstained with strong evidence (nothing quotable): no threshold changes that


def retrieval_metrics(questions: Sequence[dict[str, Any]], runs: dict[str, list[str]]) -> dict[str, float]:
    """Hit@1/5/10 and MRR@10 (answer string in passage)."""
    hits = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for q in questions:
        ps = runs.get(q["id"], [])[:10]
        first = next((i for i, p in enumerate(ps) if has_answer(q["answer"], p)), None)
        for k in hits:
            hits[k] += first is not None and first < k
        if first is not None:
            rr += 1.0 / (first + 1)
    n = len(questions) or 1
    return {"Hit@1": hits[1] / n, "Hit@5": hits[5] / n, "Hit@10": hits[10] / n, "MRR@10": rr / n, "n": len(questions)}


def run_questions(
    asker: Asker,
    questions: Iterable[dict[str, Any]],
    *,
    modes: Sequence[str] = ("hybrid",),
    k: int = 10,
) -> Iterator[Outcome]:
    """Answer every question (its ``date`` is "today"); other modes add their retrieval only."""
    engine = asker.engine
    for q in questions:
        today = date.fromisoformat(q["date"]) if q.get("date") else None
        started = time.perf_counter()
        answer = asker.reply_sync(q["question"], QuestionContext(today=today, k=k)).answer
        seconds = time.perf_counter() - started
        passages = [unit(p.title, p.text) for p in answer.passages]
        out = Outcome(q["id"], passages, answer.text, answer.abstained, seconds)
        evidence = answer.evidence
        if evidence is not None:
            out.score, out.features = evidence.score, dict(evidence.features)
            out.forced = answer.abstained and evidence.strong
        # Every quotation the reply shows must stand in an article its claim cites.
        by_n = {c.n: c.article_id for c in answer.citations}
        articles = engine.archive.catalog.articles(by_n.values())
        for claim in (c for paragraph in answer.text.split("\n") for c in claims(paragraph)):
            cited = [
                bare(unit(articles[by_n[n]].title, articles[by_n[n]].text))
                for n in markers(claim)
                if by_n.get(n) in articles
            ]
            for quote in quotes(claim):
                out.quotes += 1
                out.quotes_verbatim += any(bare(quote) in text for text in cited)
        for mode in modes:
            if mode == "hybrid":
                out.mode_passages[mode] = out.passages
            else:
                hits, _ = engine.retrieve(q["question"], QuestionContext(today=today, k=k), mode=mode)  # type: ignore[arg-type]
                out.mode_passages[mode] = [unit(h.title, h.text) for h in hits]
        yield out


def summarise(
    questions: Sequence[dict[str, Any]],
    null_questions: Sequence[dict[str, Any]],
    outcomes: dict[str, Outcome],
    modes: Sequence[str],
) -> dict[str, Any]:
    """The report: retrieval per mode, answers, abstention, quotes, latency."""
    report: dict[str, Any] = {"retrieval": {}}
    for mode in modes:
        runs = {i: o.mode_passages.get(mode, []) for i, o in outcomes.items()}
        report["retrieval"][mode] = retrieval_metrics(questions, runs)
        rare = [q for q in questions if q.get("n_corpus_articles_with_answer", 99) <= 10]
        if rare:
            report["retrieval"][f"{mode}, answer in <= 10 articles"] = retrieval_metrics(rare, runs)
    answered = [outcomes[q["id"]] for q in questions if q["id"] in outcomes]
    if answered:
        report["answers"] = {
            "n": len(answered),
            "answer_string_in_reply": _reply_share(questions, outcomes),
            "false_abstention": sum(o.abstained for o in answered) / len(answered),
        }
        kinds = sorted({q["kind"] for q in questions if q.get("kind")})
        if kinds:
            report["answers"]["by_kind"] = {
                kind: _reply_share([q for q in questions if q.get("kind") == kind], outcomes) for kind in kinds
            }
    nulls = [outcomes[q["id"]] for q in null_questions if q["id"] in outcomes]
    if nulls:
        report["null"] = {
            "n": len(nulls),
            "abstention": sum(o.abstained for o in nulls) / len(nulls),
        }
        # An old answer (the null set's "what it used to be") counts only where the file gives one.
        with_old = [q for q in null_questions if q["id"] in outcomes and str(q.get("answer") or "").strip()]
        if with_old:
            report["null"]["old_answer_in_reply"] = sum(
                has_answer(q["answer"], outcomes[q["id"]].answer_text) for q in with_old
            ) / len(with_old)
        dev_scores = [(o.score, o.forced) for o in answered]
        report["null"]["cross_validated"] = abstention_cv(dev_scores, [(o.score, o.forced) for o in nulls])
    quotes = sum(o.quotes for o in outcomes.values())
    report["quotes"] = {
        "n": quotes,
        "verbatim": (sum(o.quotes_verbatim for o in outcomes.values()) / quotes) if quotes else 1.0,
    }
    lat = sorted(o.seconds * 1000 for o in outcomes.values())
    if lat:
        report["latency_ms"] = {
            "p50": round(statistics.median(lat), 1),
            "p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
            "max": round(lat[-1], 1),
        }
    return report


def _reply_share(questions: Sequence[dict[str, Any]], outcomes: dict[str, Outcome]) -> float:
    """The share of ``questions`` whose reply (not an abstention) holds the answer string."""
    done = [q for q in questions if q["id"] in outcomes]
    hits = sum(not outcomes[q["id"]].abstained and has_answer(q["answer"], outcomes[q["id"]].answer_text) for q in done)
    return hits / len(done) if done else 0.0


def abstention_cv(
    dev: Sequence[tuple[float, bool]], null: Sequence[tuple[float, bool]], *, target: float = 0.9, folds: int = 5
) -> dict[str, float]:
    """The abstention threshold's out-of-sample result: fitted on all folds but one, measured on the one left out.

    Each item is ``(evidence score, abstained whatever the threshold)``. In each fold the threshold is the lowest
    that makes ``target`` of the training null questions abstain; the held-out dev and null questions are then
    judged by it. Returns the held-out null abstention and dev false abstention over all folds, and the mean
    threshold.
    """
    null_abstained = dev_abstained = 0
    thresholds: list[float] = []
    for f in range(folds):
        train = sorted(s for i, (s, _) in enumerate(null) if i % folds != f)
        if not train:
            continue
        # Abstain when score < threshold: the threshold sits just above the ceil(target * n)-th lowest score.
        cut = min(len(train) - 1, max(0, math.ceil(target * len(train)) - 1))
        threshold = math.nextafter(train[cut], math.inf)
        thresholds.append(threshold)
        null_abstained += sum(forced or s < threshold for i, (s, forced) in enumerate(null) if i % folds == f)
        dev_abstained += sum(forced or s < threshold for i, (s, forced) in enumerate(dev) if i % folds == f)
    return {
        "null_abstention": null_abstained / len(null) if null else 0.0,
        "false_abstention": dev_abstained / len(dev) if dev else 0.0,
        "threshold": statistics.fmean(thresholds) if thresholds else 0.0,
        "folds": folds,
    }


def write_run(path: str | Path, outcomes: Iterable[Outcome]) -> None:
    """The run file score.py reads: one ``{"id", "passages", "answer_text", "abstained"}`` per line."""
    with open(path, "w", encoding="utf-8") as f:
        for o in outcomes:
            row = {
                "id": o.id,
                "passages": o.passages,
                "answer_text": o.answer_text,
                "abstained": o.abstained,
                "evidence": round(o.score, 4),
                "features": o.features,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def eval_settings(settings: Settings, corpus: str | Path) -> Settings:
    """The settings of ``corpus``'s evaluation home: a folder of its own under the user's home, named by the
    corpus file's content (the same articles written anew, to a temporary file, find the same home), reused by
    later runs (the first embeds the whole corpus)."""
    digest = hashlib.sha1()
    with open(corpus, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    key = digest.hexdigest()[:8]
    name = Path(corpus).name.split(".")[0]
    return settings.model_copy(update={"home": settings.home / "eval" / f"{name}-{key}"})


def evaluate(
    settings: Settings,
    questions: str | Path,
    *,
    null_path: str | Path | None = None,
    corpus: str | Path | None = None,
    modes: Sequence[str] = ("hybrid",),
    limit: int | None = None,
    run_out: str | Path | None = None,
    on_ingest: Callable[[IngestReport], None] | None = None,
    on_question: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """``briefbot eval``: read the question files (every problem named before anything runs), ingest ``corpus``
    into its own home when given, answer every question, write the run file, and return the report.

    Raises:
        BriefbotError: a bad question file, an unknown mode, an unwritable run file.
    """
    chosen = list(dict.fromkeys(["hybrid", *modes]))
    if any(m not in MODES for m in chosen):
        raise BriefbotError(f"--modes must be among {', '.join(MODES)}")
    qs = read_jsonl(questions)[:limit]
    nulls = read_jsonl(null_path, answers=False)[:limit] if null_path else []
    if run_out:
        check_writable(run_out)
    if corpus:
        settings = eval_settings(settings, corpus)
    archive = Archive(settings)
    ingested: IngestReport | None = None
    try:
        if corpus:
            ingested = ingest(archive, read_sources([str(corpus)], settings), progress=on_ingest)
        asker = Asker(AnswerEngine(archive, settings, llm=make_llm(settings)))
        outcomes: dict[str, Outcome] = {}
        total = len(qs) + len(nulls)
        for o in run_questions(asker, [*qs, *nulls], modes=chosen):
            outcomes[o.id] = o
            if on_question is not None:
                on_question(len(outcomes), total)
    finally:
        archive.close()
    if run_out:
        write_run(run_out, outcomes.values())
    result = summarise(qs, nulls, outcomes, chosen)
    result["home"] = str(settings.home)
    if ingested is not None:
        result["corpus"] = {
            "added": ingested.added,
            "unchanged": ingested.unchanged,
            "failed": len(ingested.failed),
            "seconds": round(ingested.seconds, 1),
        }
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    """The report of ``evaluate`` as text lines."""
    lines = [
        f"{mode:>36}: Hit@1 {m['Hit@1']:.3f}  Hit@5 {m['Hit@5']:.3f}  Hit@10 {m['Hit@10']:.3f}  "
        f"MRR@10 {m['MRR@10']:.3f}  (n={m['n']})"
        for mode, m in result["retrieval"].items()
    ]
    if "answers" in result:
        a = result["answers"]
        lines.append(
            f"answers: string in reply {a['answer_string_in_reply']:.3f}, false abstention {a['false_abstention']:.3f}"
        )
        if "by_kind" in a:
            lines.append(
                "answer string in reply by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in a["by_kind"].items())
            )
    if "null" in result:
        lines.append(f"null questions: abstention {result['null']['abstention']:.3f} (n={result['null']['n']})")
        cv = result["null"].get("cross_validated")
        if cv:
            lines.append(
                f"abstention threshold, {cv['folds']}-fold cross-validated: "
                f"null abstention {cv['null_abstention']:.3f}, false abstention {cv['false_abstention']:.3f} "
                f"(threshold {cv['threshold']:.3f})"
            )
    lines.append(f"quotes verbatim: {result['quotes']['verbatim']:.3f} of {result['quotes']['n']}")
    if "latency_ms" in result:
        lat = result["latency_ms"]
        lines.append(f"latency: p50 {lat['p50']} ms, p95 {lat['p95']} ms")
    return lines
