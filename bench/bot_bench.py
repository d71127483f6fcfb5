"""Telegram bot benchmark: many users asking through the fake Bot API server, flood limits on.

    python bench/bot_bench.py [--users 50] [--questions 10] [--think 2 6] [--home DIR]

The real Application (``bot.app.build_application``) polls ``tests.fakes.telegram.FakeTelegram`` with Telegram's
flood limits, over the demo corpus (ingested into a temporary home unless ``--home`` holds an archive). Each user
asks ``--questions`` questions one after the other, thinking a random ``--think`` seconds between an answer and
the next question, as people do. One driver thread plays all users; the bot runs on the main event loop.

Measured per question: from the moment the update is queued at the server to the bot's final message (the
answer with its buttons, or the polite rate-limit message) as the server received it; and the answer engine's
own time, by wrapping the engine. The bot's overhead is the difference: polling, handlers, state, rendering,
the typing indicator, the rate limiter and the HTTP round trips. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

QUESTIONS = [
    "What did Tervania say about the sanctions?",
    "What did Johanna Keller say about the Aldermark deal?",
    "How many jobs is Silvanic cutting?",
    "Who is eligible for the new RSV vaccine?",
    "How was the apple harvest in the valley?",
    "What caused the Eastmark blackout?",
    "What did the energy minister order after the blackout?",
    "What did the Kestrel probe find at asteroid Halvora?",
    "When did the offshore wind farm start sending power?",
    "Why did the Bank of Norland raise rates?",
    "What does the rate rise mean for homeowners?",
    "Why are the Halvik bus drivers on strike?",
    "Why was Chirpline fined?",
    "What happened in Port Aldren during storm Edda?",
    "What are house prices doing?",
    "Which film won the Golden Gull?",
    "Who scored the winner in the Norland Cup final?",
    "Who won the Nobel prize in chemistry?",
    "What is the weather on Mars today?",
    "What did the Korvisk government say about the Coastal Union?",
]


class TimedEngine:
    """The answer engine with a stopwatch: every ``answer_async`` call is recorded (question, start, end)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.llm = inner.llm
        self.calls: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    async def answer_async(self, question: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        answer = await self.inner.answer_async(question, **kwargs)
        with self._lock:
            self.calls.append((question, started, time.monotonic()))
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def prepare_home(home: Path | None) -> Path:
    from bot.demo import demo_records
    from bot.settings import Settings
    from index.archive import Archive
    from index.ingest import ingest

    home = home or Path(tempfile.mkdtemp(prefix="briefbot-bot-bench-"))
    os.environ["BRIEFBOT_HOME"] = str(home)
    os.environ.setdefault("BRIEFBOT_CONFIG", str(home / "no-such-briefbot.toml"))
    with Archive(Settings(home=home)) as archive:
        if archive.catalog.counts()[0] == 0:
            ingest(archive, demo_records(archive.settings))
    return home


def drive(server: Any, users: list[Any], questions: int, think: tuple[float, float], seed: int) -> list[dict[str, Any]]:
    """Play every user from one thread; returns one record per question asked."""
    rng = random.Random(seed)
    todo = [(rng.uniform(0, think[1]), i) for i in range(len(users))]  # staggered starts
    heapq.heapify(todo)
    start = time.monotonic()
    asked: dict[int, dict[str, Any]] = {}  # chat id -> the question in flight
    count: dict[int, int] = defaultdict(int)
    records: list[dict[str, Any]] = []
    seen = 0
    while todo or asked:
        now = time.monotonic() - start
        while todo and todo[0][0] <= now:
            _, i = heapq.heappop(todo)
            user = users[i]
            question = QUESTIONS[(i * 7 + count[user.id]) % len(QUESTIONS)]
            count[user.id] += 1
            asked[user.id] = {"user": user.id, "question": question, "t0": time.monotonic()}
            server.add_message(user, user, question)
        with server._cond:
            if len(server.sent) == seen:
                server._cond.wait(0.05 if not todo else max(0.0, min(0.05, todo[0][0] - now)))
            fresh, seen = server.sent[seen:], len(server.sent)
        for call in fresh:
            if call.method != "sendMessage":
                continue
            chat = call.params["chat_id"]
            record = asked.get(chat)
            text = call.result.get("text", "")
            if record is None or not (call.result.get("reply_markup") or "questions a minute" in text):
                continue
            record.update(t1=call.at, abstained=text.startswith("I have nothing"), limited="questions a minute" in text)
            records.append(asked.pop(chat))
            i = next(k for k, u in enumerate(users) if u.id == chat)
            if count[chat] < questions:
                heapq.heappush(todo, (time.monotonic() - start + rng.uniform(*think), i))
    return records


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.answering import AnswerEngine
    from bot.settings import Settings
    from bot.telegram.app import build_application
    from index.archive import Archive
    from tests.bot_harness import bot_settings, polling
    from tests.fakes.telegram import FakeTelegram

    home = prepare_home(args.home)
    with FakeTelegram(bot_username="briefbot_bench_bot") as server, Archive(Settings(home=home)) as archive:
        engine = TimedEngine(AnswerEngine(archive, Settings(home=home)))
        state_home = Path(tempfile.mkdtemp(prefix="briefbot-bot-bench-state-"))
        app = build_application(bot_settings(server, state_home), archive=archive, engine=engine)
        users = [server.add_user(f"User{n}") for n in range(args.users)]
        await engine.answer_async(QUESTIONS[0])  # load the model before the clock starts
        engine.calls.clear()
        async with polling(app):
            started = time.monotonic()
            records = await asyncio.to_thread(drive, server, users, args.questions, tuple(args.think), args.seed)
            wall = time.monotonic() - started
        rate_limited = len(server.rate_limited)
        failed = [r for r in server.failed_requests if r.status != 429]

    by_question: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for question, t_start, t_end in engine.calls:
        by_question[question].append((t_start, t_end))
    latencies, overheads, engine_times = [], [], []
    for r in records:
        latency = r["t1"] - r["t0"]
        latencies.append(latency)
        if r["limited"]:
            continue
        inside = [(s, e) for s, e in by_question[r["question"]] if r["t0"] <= s and e <= r["t1"]]
        if inside:
            s, e = max(inside, key=lambda se: se[0])
            engine_times.append(e - s)
            overheads.append(latency - (e - s))
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {
        "users": args.users,
        "questions_per_user": args.questions,
        "asked": len(records),
        "answered": sum(not r["limited"] for r in records),
        "abstained": sum(r.get("abstained", False) for r in records),
        "politely_rate_limited": sum(r["limited"] for r in records),
        "telegram_429s_waited_out": rate_limited,
        "failed_requests": len(failed),
        "wall_seconds": round(wall, 1),
        "latency_p50_ms": ms(percentile(latencies, 0.5)),
        "latency_p95_ms": ms(percentile(latencies, 0.95)),
        "engine_p50_ms": ms(percentile(engine_times, 0.5)),
        "engine_p95_ms": ms(percentile(engine_times, 0.95)),
        "overhead_p50_ms": ms(percentile(overheads, 0.5)),
        "overhead_p95_ms": ms(percentile(overheads, 0.95)),
        "overhead_mean_ms": ms(statistics.fmean(overheads)) if overheads else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 6.0), help="seconds between questions")
    parser.add_argument("--home", type=Path, default=None, help="an archive home (default: demo corpus in a temp dir)")
    parser.add_argument("--seed", type=int, default=1)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
