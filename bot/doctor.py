"""``briefbot doctor``: the archive's health (``index.health``) plus the bot's: the Telegram token, asked with
``getMe`` at the configured Bot API URL, and the last digest delivery of every subscribed chat. ``briefbot run``
logs the same in one line at start (``summary``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from telegram.error import InvalidToken, TelegramError

from bot.delivery.broadcast import make_bot
from bot.delivery.outbox import DeliveryLog
from bot.settings import Settings
from bot.state import State
from index.health import Check, archive_checks

#: A subscribed chat with no digest delivered for this long has a problem (a digest is due every day).
DIGEST_OVERDUE = timedelta(hours=48)


def telegram_check(settings: Settings) -> Check:
    """``getMe`` with the configured token at the configured Bot API URL."""
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        return Check("telegram", False, "no TELEGRAM_BOT_TOKEN: the bot cannot run (the CLI works without it)")
    bot = make_bot(settings)

    async def get_me() -> str:
        async with bot:
            return bot.username

    try:
        username = asyncio.run(get_me())
    except InvalidToken:
        return Check("telegram", True, "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN")
    except TelegramError as exc:  # NetworkError, TimedOut, a server error: the message may hold the token's URL
        reason = str(exc).replace(token, "<token>")
        return Check("telegram", True, f"cannot reach the Bot API at {settings.telegram_api_url}: {reason}")
    return Check("telegram", False, f"the token is valid: @{username}", {"username": username})


def digest_checks(settings: Settings, now: datetime) -> list[Check]:
    """One line for the subscriptions, and a problem line per subscribed chat whose last digest failed or is
    overdue."""
    if not settings.state_path.is_file():
        return [Check("digests", False, "no chats yet", {"subscribed": 0})]
    state = State(settings.state_path)
    try:
        log = DeliveryLog(state)
        subscribed = state.subscribed_chats()
        out: list[Check] = []
        last_sent: dict[str, str | None] = {}
        for sub in subscribed:
            last = log.last(sub.chat_id, "digest")
            last_sent[str(sub.chat_id)] = last.claimed_at.isoformat() if last else None
            chat = f"chat {sub.chat_id}"
            if last is not None and last.status in ("failed", "partial"):
                out.append(Check("digest", True, f"{chat}: the digest of {last.period} {last.status}: {last.error}"))
            elif last is not None and now - last.claimed_at > DIGEST_OVERDUE:
                days = (now - last.claimed_at).days
                out.append(Check("digest", True, f"{chat}: no digest for {days} days (last {last.period})"))
            elif last is None and sub.subscribed_at is not None and now - sub.subscribed_at > DIGEST_OVERDUE:
                out.append(Check("digest", True, f"{chat}: no digest since it subscribed {sub.subscribed_at:%Y-%m-%d}"))
        detail = f"{len(subscribed)} subscribed chats, {len(out)} with a digest problem"
        return [Check("digests", False, detail, {"subscribed": len(subscribed), "last": last_sent}), *out]
    finally:
        state.close()


def checks(settings: Settings, now: datetime, *, telegram: bool = True) -> list[Check]:
    """Every check, in the order ``briefbot doctor`` prints them."""
    found = archive_checks(settings)
    if telegram:
        found.append(telegram_check(settings))
    return [*found, *digest_checks(settings, now)]


def summary(found: list[Check]) -> str:
    """One line for the start-up log: what the archive holds and how many problems there are."""
    problems = [c for c in found if c.problem]
    main = [c.detail for c in found if not c.problem and c.name in ("store", "disk", "feeds", "digests")]
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    tail = f"{count} (run `briefbot doctor`): {problems[0].detail}" if problems else "no problems"
    return f"health: {'; '.join(main)}; {tail}"
