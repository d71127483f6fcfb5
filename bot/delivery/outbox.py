"""Getting digests and alerts into chats: never twice, within Telegram's flood limits, every delivery logged.

- **Never twice.** A delivery is claimed in the log (``deliveries``, unique per chat, kind and period) *before*
  its first message goes out. A second claim of the same period fails whoever makes it: a second trigger, a
  restart, ``briefbot digest --send`` in another process. The price is at-most-once: a crash between claim and
  send loses that one digest; the next one starts where the last delivered one ended, so no article is lost.
  Only a delivery that certainly sent nothing (Telegram refused it) frees its period for another attempt.
- **Flood limits.** ``FloodGate`` paces every send: about 30 messages a second overall, 20 a minute per group,
  about one a second per private chat (each with a small burst), a little under Telegram's figures so that
  network jitter never tips a send over them. A 429 is waited out (``retry_after``, with everyone pausing) and
  the message sent again.
- **Blocked.** A 403 marks the chat inactive and stops sending there; a group that became a supergroup is
  followed to its new id; a deleted forum topic falls back to the chat itself.
"""

from __future__ import annotations

import os

# 429s carry retry_after as a timedelta only with this set (else PTB warns on every one); before telegram loads.
os.environ.setdefault("PTB_TIMEDELTA", "1")

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.html import visible_text
from bot.state import State

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)

#: How often one message is tried again after a 429.
RETRIES = 5

# A digest's window counts as covered (the next digest starts after it) once sent, sent in part, or empty; not
# while 'sending' (in flight, or a crash mid-way: unknown) nor when 'failed'.
_COVERED = ("sent", "partial", "empty")


# -- the log ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One row of the delivery log."""

    id: int
    chat_id: int
    kind: str
    period: str
    status: str
    thread_id: int | None
    since: datetime | None
    until: datetime | None
    message_ids: list[int]
    error: str | None
    claimed_at: datetime


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class DeliveryLog:
    """The ``deliveries`` table of the bot's state."""

    def __init__(self, state: State) -> None:
        self.db, self.clock = state.db, state.clock

    def claim(self, chat_id: int, kind: str, period: str, *, thread_id: int | None = None) -> int | None:
        """Claim (chat, kind, period) before sending; its row id, or None when someone already has it."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (chat_id, kind, period, status, thread_id, claimed_at) "
            "VALUES (?, ?, ?, 'sending', ?, ?)",
            (chat_id, kind, period, thread_id, _iso(self.clock())),
        )
        return cursor.lastrowid if cursor.rowcount else None

    def finish(
        self,
        delivery_id: int,
        status: str,
        *,
        chat_id: int | None = None,
        message_ids: Sequence[int] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        error: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE deliveries SET status = ?, chat_id = COALESCE(?, chat_id), message_ids = ?, since = ?, "
            "until = ?, error = ?, finished_at = ? WHERE id = ?",
            (
                status,
                chat_id,
                json.dumps(list(message_ids)),
                _iso(since),
                _iso(until),
                error,
                _iso(self.clock()),
                delivery_id,
            ),
        )

    def delivered(self, chat_id: int, kind: str, period: str) -> bool:
        """Whether the period is taken (sent, being sent, or sent in part)."""
        row = self.db.execute(
            "SELECT 1 FROM deliveries WHERE chat_id = ? AND kind = ? AND period = ? AND status != 'failed'",
            (chat_id, kind, period),
        ).fetchone()
        return row is not None

    def last_digest_until(self, chat_id: int) -> datetime | None:
        """Where the chat's last delivered digest ended (the next one starts there)."""
        row = self.db.execute(
            f"SELECT max(until) FROM deliveries WHERE chat_id = ? AND kind = 'digest' "
            f"AND status IN ({','.join('?' * len(_COVERED))})",
            (chat_id, *_COVERED),
        ).fetchone()
        return _dt(row[0])

    def last(self, chat_id: int, kind: str) -> Delivery | None:
        """The chat's latest delivery of ``kind`` (for ``briefbot doctor``)."""
        found = self.rows(chat_id, kind, newest=1)
        return found[0] if found else None

    def count_since(self, chat_id: int, kind: str, since: datetime) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM deliveries WHERE chat_id = ? AND kind = ? AND claimed_at >= ? AND status != 'failed'",
            (chat_id, kind, _iso(since)),
        ).fetchone()
        return int(row[0])

    def rows(self, chat_id: int | None = None, kind: str | None = None, *, newest: int = 0) -> list[Delivery]:
        """The log, oldest first; only the ``newest`` latest rows, newest first, when it is set."""
        order = f"ORDER BY id DESC LIMIT {int(newest)}" if newest else "ORDER BY id"
        rows = self.db.execute(
            "SELECT id, chat_id, kind, period, status, thread_id, since, until, message_ids, error, claimed_at "
            f"FROM deliveries WHERE (? IS NULL OR chat_id = ?) AND (? IS NULL OR kind = ?) {order}",
            (chat_id, chat_id, kind, kind),
        )
        return [
            Delivery(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                _dt(r[6]),
                _dt(r[7]),
                json.loads(r[8]),
                r[9],
                datetime.fromisoformat(r[10]),
            )
            for r in rows
        ]


# -- pacing ----------------------------------------------------------------------------------------------------


class _Cells:
    """A token bucket as a schedule (GCRA): ``burst`` sends at once, then one per ``1 / rate`` seconds."""

    __slots__ = ("interval", "tat", "tolerance")

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (max(burst, 1) - 1) * self.interval
        self.tat = 0.0  # the theoretical arrival time of the next send

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.tolerance)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


@dataclass
class FloodGate:
    """Paces sends under Telegram's flood limits: ``await gate.wait(chat_id)`` before each message.

    The defaults sit a little under Telegram's figures (30/s overall, 20/min per group, ~1/s per chat) so that
    requests bunched by the network still arrive within them.
    """

    per_second: float = 29.0
    burst: int = 20
    group_per_minute: float = 19.0
    group_burst: int = 15
    private_per_second: float = 1.0
    private_burst: int = 3
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rate_limited: int = 0  # 429s met
    _overall: _Cells | None = field(default=None, repr=False)
    _chats: dict[int, _Cells] = field(default_factory=dict, repr=False)

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to ``chat_id`` fits every limit, and count it."""
        if self._overall is None:
            self._overall = _Cells(self.per_second, self.burst)
        chat = self._chats.get(chat_id)
        if chat is None:
            group = chat_id < 0
            rate = self.group_per_minute / 60 if group else self.private_per_second
            chat = self._chats[chat_id] = _Cells(rate, self.group_burst if group else self.private_burst)
        now = self.clock()
        at = max(self._overall.earliest(now), chat.earliest(now))
        self._overall.take(at)
        chat.take(at)
        if len(self._chats) > 4096:
            self._chats = {k: c for k, c in self._chats.items() if c.tat > now}
        if at > now:
            await self.sleep(at - now)

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nobody sends for ``seconds``."""
        self.rate_limited += 1
        if self._overall is None:
            self._overall = _Cells(self.per_second, self.burst)
        self._overall.tat = max(self._overall.tat, self.clock() + seconds + self._overall.tolerance)


# -- sending ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery. ``status``: sent, partial, empty, failed, blocked, or duplicate (the period
    was already claimed: nothing sent)."""

    chat_id: int
    kind: str
    period: str
    status: str
    message_ids: tuple[int, ...] = ()
    error: str | None = None


class _Stopped(Exception):
    def __init__(self, error: TelegramError, certain: bool) -> None:
        super().__init__(str(error))
        self.error, self.certain = error, certain  # certain: Telegram refused it, nothing of it went out


async def _send_one(bot: Bot, state: State, gate: FloodGate, target: list[int | None], text: str) -> int:
    """Send one message to ``target`` ([chat_id, thread_id], updated on a migration or a lost topic)."""
    retries = 0
    parse_mode: str | None = ParseMode.HTML
    while True:
        chat_id, thread_id = target
        assert chat_id is not None
        await gate.wait(chat_id)
        try:
            message = await bot.send_message(chat_id, text, parse_mode=parse_mode, message_thread_id=thread_id)
            return message.message_id
        except RetryAfter as exc:
            retries += 1
            if retries > RETRIES:
                raise _Stopped(exc, True) from None
            wait = exc.retry_after.total_seconds() if isinstance(exc.retry_after, timedelta) else exc.retry_after
            log.info("Telegram asked to wait %.0fs (chat %s): waiting", wait, chat_id)
            gate.pause(float(wait))
        except ChatMigrated as exc:
            log.info("chat %s became supergroup %s: following it", chat_id, exc.new_chat_id)
            state.migrate_chat(chat_id, exc.new_chat_id)
            target[0] = exc.new_chat_id
        except BadRequest as exc:
            lowered = exc.message.lower()
            if thread_id is not None and "thread not found" in lowered:
                log.info("forum topic %s of chat %s is gone: posting in the chat itself", thread_id, chat_id)
                target[1] = None
            elif "can't parse entities" in lowered and parse_mode is not None:
                log.warning("Telegram rejected the HTML (%s): sending plain text", exc.message)
                text, parse_mode = visible_text(text), None
            else:
                raise _Stopped(exc, True) from None
        except Forbidden as exc:
            raise _Stopped(exc, True) from None
        except TelegramError as exc:  # timeouts, network errors: it may have gone out
            raise _Stopped(exc, False) from None


async def deliver(
    bot: Bot,
    state: State,
    gate: FloodGate,
    *,
    chat_id: int,
    kind: str,
    period: str,
    thread_id: int | None,
    make: Callable[[], Awaitable[tuple[list[str], datetime | None, datetime | None]]],
) -> Outcome:
    """Claim (chat, kind, period), then build the messages (``make`` returns them and the window they cover;
    no messages: an empty digest, logged and not sent) and send them in order.

    A 403 marks the chat inactive. The log row ends as sent, partial, empty or failed, with the message ids.
    """
    log_ = DeliveryLog(state)
    delivery_id = log_.claim(chat_id, kind, period, thread_id=thread_id)
    if delivery_id is None:
        return Outcome(chat_id, kind, period, "duplicate")
    try:
        messages, since, until = await make()
    except BaseException as exc:
        log_.finish(delivery_id, "failed", error=f"composing failed: {exc!r}"[:500])
        raise
    if not messages:
        log_.finish(delivery_id, "empty", since=since, until=until)
        return Outcome(chat_id, kind, period, "empty")
    target: list[int | None] = [chat_id, thread_id]
    sent: list[int] = []
    try:
        for text in messages:
            sent.append(await _send_one(bot, state, gate, target, text))
    except _Stopped as stop:
        blocked = isinstance(stop.error, Forbidden)
        if blocked:
            state.deactivate(chat_id, "forbidden")
            log.info("chat %s refused the %s (%s): marked inactive", chat_id, kind, stop.error.message)
        else:
            log.warning("%s to chat %s stopped: %s", kind, chat_id, stop.error.message)
        status = "failed" if stop.certain and not sent else "partial"
        log_.finish(
            delivery_id, status, chat_id=target[0], message_ids=sent, since=since, until=until, error=stop.error.message
        )
        return Outcome(chat_id, kind, period, "blocked" if blocked else status, tuple(sent), stop.error.message)
    except BaseException as exc:  # cancelled mid-way: whatever went out stays claimed
        log_.finish(delivery_id, "partial", message_ids=sent, since=since, until=until, error=repr(exc)[:500])
        raise
    log_.finish(delivery_id, "sent", chat_id=target[0], message_ids=sent, since=since, until=until)
    return Outcome(chat_id, kind, period, "sent", tuple(sent))
