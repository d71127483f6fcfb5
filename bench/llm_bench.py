"""The LLM path against a real model, question by question: latency, who answered, what verification dropped.

    python bench/llm_bench.py [--timeout 20] [--max-tokens 64] [--context-tokens 800] [--json]

Starts llama.cpp's server (``tests/llama_server.py``: Gemma 3 270M from PyPI wheels, one thread) on a free port,
builds the demo archive in a temporary home (dated so its newest article is today), and asks the questions below
through ``bot.ask`` as ``briefbot ask`` would, with ``BRIEFBOT_LLM_MODEL`` pointing at the server. A base model
this small cannot answer; the report shows what the bot does with what it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "What did Tervania say about the sanctions?",
    "Who is Tervania's foreign ministry spokesperson?",
    "What did Maria Lindqvist say about inflation?",
    "How many jobs will Silvanic cut?",
    "What caused the Eastmark blackout?",
    "What did Magnus Ekholm say?",
    "How many homes will the Aldren Bank wind farm supply?",
    "What did the data regulator fine Chirpline for?",
    "Who won the Norland Cup final?",
    "What did Mayor José Núñez say about the flooding?",
    "What is the Respira-1 vaccine?",
    "What is the population of the Moon colony on Europa?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="BRIEFBOT_LLM_TIMEOUT")
    parser.add_argument("--max-tokens", type=int, default=64, help="BRIEFBOT_LLM_MAX_TOKENS")
    parser.add_argument("--context-tokens", type=int, default=800, help="BRIEFBOT_LLM_CONTEXT_TOKENS")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.llama_server", "--ctx", "4096", "--model-dir", f"{tmp}/gguf"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdin is not None
        url = server.stdout.readline().split()[1] + "/v1"
        os.environ["OPENAI_BASE_URL"] = url
        os.environ.pop("OPENAI_API_KEY", None)
        try:
            rows = run(Path(tmp) / "home", args)
        finally:
            server.stdin.close()
            server.wait(timeout=15)
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    print("| question | seconds | reader | fallback reason | dropped | the model wrote (start) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        dropped = "; ".join(f"{n}× {why}" for why, n in r["dropped"].items()) or "-"  # type: ignore[attr-defined]
        wrote = " ".join(str(r["wrote"]).split())[:70].replace("|", "/") or "-"
        print(
            f"| {r['question']} | {r['seconds']:.1f} | {r['reader']} | {r['fallback_reason'] or '-'} | {dropped} "
            f"| {wrote} |"
        )


def run(home: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    from bot.answering import AnswerEngine, QuestionContext, make_llm
    from bot.ask import Asker
    from bot.demo import demo_records
    from bot.settings import Settings
    from index.archive import Archive
    from index.ingest import ingest

    settings = Settings(
        home=home,
        llm_model="gemma3-270m",
        llm_timeout=args.timeout,
        llm_max_tokens=args.max_tokens,
        llm_context_tokens=args.context_tokens,
    )
    archive = Archive(settings)
    ingest(archive, demo_records(settings))
    asker = Asker(AnswerEngine(archive, settings, llm=make_llm(settings)))
    rows: list[dict[str, object]] = []
    for question in QUESTIONS:
        started = time.monotonic()
        answer = asker.reply_sync(question, QuestionContext()).answer
        seconds = time.monotonic() - started
        reasons: dict[str, int] = {}
        for _, why in answer.dropped:
            key = why.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        rows.append(
            {
                "question": question,
                "seconds": round(seconds, 2),
                "reader": "abstained" if answer.abstained and answer.reader == "extractive" else answer.reader,
                "fallback_reason": answer.fallback_reason,
                "dropped": reasons,
                "answer": answer.text,
                "wrote": answer.dropped[0][0] if answer.dropped else "",
            }
        )
    archive.close()
    return rows


if __name__ == "__main__":
    main()
