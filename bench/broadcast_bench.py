"""Broadcast benchmark: the morning digest to many subscribers through the fake Bot API server, flood limits on.

    python bench/broadcast_bench.py [--subscribers 1000] [--groups 0] [--home DIR]

What ``briefbot digest --send`` does (``bot.delivery.send_due_digests``), in process: the demo corpus (ingested
into a temporary home unless ``--home`` holds an archive, dated to end today) composed once, then one digest per
subscribed chat, paced by ``bot.delivery.FloodGate`` and sent through a real python-telegram-bot client to
``tests.fakes.telegram.FakeTelegram``, whose flood limits answer 429 as Telegram would (30 messages a second
overall, 20 a minute per group). A second run right after must send nothing.

Reported (JSON): messages and seconds, messages a second, the 429s the server's flood limits gave (the target
is none), and the least time those limits allow for the same messages (30 at once, then 30 a second), to
compare against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def prepare_archive(home: Path) -> None:
    from bot.demo import demo_records
    from bot.settings import Settings
    from index.archive import Archive
    from index.ingest import ingest

    settings = Settings(home=home)
    with Archive(settings) as archive:
        if archive.catalog.counts()[0] == 0:
            ingest(archive, demo_records(settings))


async def broadcast(home: Path, subscribers: int, groups: int) -> dict[str, Any]:
    from bot.delivery.broadcast import make_bot, send_due_digests
    from bot.settings import Settings
    from bot.state import State
    from index.archive import Archive
    from tests.fakes.telegram import FakeTelegram, FloodLimits

    limits = FloodLimits()
    with FakeTelegram(flood_limits=limits) as server:
        settings = Settings(home=home, telegram_token=server.token, telegram_api_url=server.base_url)
        state = State(home / "state.sqlite3")
        for k in range(subscribers):
            chat_id = server.add_supergroup(f"Group {k}").id if k < groups else server.add_user(f"Reader {k}").id
            state.subscribe(chat_id, "08:00", thread_id=None, by=None)
        with Archive(settings) as archive:
            async with make_bot(settings) as bot:
                first = await send_due_digests(bot, state, archive, settings, now=datetime.now(UTC))
                second = await send_due_digests(bot, state, archive, settings, now=datetime.now(UTC))
        state.close()
        flood_429 = [r for r in server.rate_limited if not r.injected]
        sent = len(server.calls("sendMessage"))
    least = max(0.0, (first.messages - limits.global_burst) / limits.global_per_second)
    return {
        "subscribers": subscribers,
        "groups": groups,
        "digests_sent": first.count("sent"),
        "messages": first.messages,
        "server_messages": sent,
        "seconds": round(first.seconds, 2),
        "messages_per_second": round(first.messages / first.seconds, 1) if first.seconds else None,
        "least_seconds_at_30_per_second": round(least, 2),
        "slower_than_the_limit_allows": f"{(first.seconds / least - 1) * 100:.1f}%" if least else None,
        "flood_429": len(flood_429),
        "retries_after_429": first.rate_limited,
        "failed": first.count("failed") + first.count("partial") + first.count("blocked"),
        "second_run": {
            "sent": second.count("sent"),
            "duplicate": second.count("duplicate"),
            "seconds": round(second.seconds, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=0, help="How many of the subscribers are groups.")
    parser.add_argument("--home", type=Path, default=None, help="A home holding an archive (state is replaced).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="broadcast-bench-") as tmp:
        home = args.home or Path(tmp) / "home"
        started = time.monotonic()
        prepare_archive(home)
        (home / "state.sqlite3").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            (home / f"state.sqlite3{suffix}").unlink(missing_ok=True)
        prepared = time.monotonic() - started
        result = asyncio.run(broadcast(home, args.subscribers, args.groups))
        result["prepare_seconds"] = round(prepared, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
