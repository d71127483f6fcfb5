"""Who may use the bot, and how often.

- ``BRIEFBOT_ALLOWED_USERS``: these users may ask anywhere the bot is (private chats and every group).
- ``BRIEFBOT_ALLOWED_CHATS``: every member of these groups may ask there (and only there).
- Both empty: the bot is open to everyone (the start-up log says so).
- ``BRIEFBOT_ADMINS``: these users may run the admin commands, and may ask anywhere. Empty: nobody may.

A group that became a supergroup keeps its permission: the old id in the allow-list still counts for the new one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.settings import Settings


@dataclass
class Access:
    """The allow-lists and the admin list, as sets."""

    users: frozenset[int]
    chats: frozenset[int]
    admins: frozenset[int]
    #: The basic groups a chat migrated from (their ids may be the ones in the allow-list).
    aliases: Callable[[int], Iterable[int]] = field(default=lambda chat_id: ())

    @classmethod
    def from_settings(cls, settings: Settings, aliases: Callable[[int], Iterable[int]] | None = None) -> Access:
        return cls(
            frozenset(settings.allowed_users),
            frozenset(settings.allowed_chats),
            frozenset(settings.admins),
            aliases or (lambda chat_id: ()),
        )

    @property
    def is_open(self) -> bool:
        """True when no allow-list is set: everyone may ask."""
        return not self.users and not self.chats

    def may_ask(self, user_id: int | None, chat_id: int) -> bool:
        """Whether ``user_id`` may ask questions in ``chat_id`` (their private chat has their own id)."""
        if self.is_open:
            return True
        if user_id is not None and (user_id in self.users or user_id in self.admins):
            return True
        if chat_id in self.chats:
            return True
        return any(old in self.chats for old in self.aliases(chat_id))

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.is_open:
            return "BRIEFBOT_ALLOWED_USERS and BRIEFBOT_ALLOWED_CHATS are empty: the bot answers EVERYONE who finds it"
        return f"access: {len(self.users)} allowed users, {len(self.chats)} allowed chats, {len(self.admins)} admins"


class RateLimiter:
    """A sliding window per user: at most ``per_minute`` questions in any 60 seconds.

    Args:
        per_minute: questions allowed per user and minute; 0 or less switches the limit off.
        clock: monotonic seconds (a seam for tests).
    """

    window = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._asked: dict[int, deque[float]] = {}
        self._told_until: dict[int, float] = {}
        self._calls = 0

    def wait(self, user_id: int) -> float:
        """0 and the question counts, or the seconds until the user may ask again (nothing is counted)."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        self._calls += 1
        if self._calls % 1000 == 0:
            self.forget_idle()
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - self.window:
            asked.popleft()
        if len(asked) < self.per_minute:
            asked.append(now)
            self._told_until.pop(user_id, None)
            return 0.0
        return max(asked[0] + self.window - now, 0.001)

    def should_tell(self, user_id: int, wait: float) -> bool:
        """True once per limited stretch: a user who keeps typing is told once, not once per message."""
        now = self.clock()
        if self._told_until.get(user_id, 0.0) > now:
            return False
        self._told_until[user_id] = now + wait
        return True

    def forget_idle(self) -> None:
        """Drop users with nothing in their window (keeps memory flat on a busy bot)."""
        now = self.clock()
        for user_id in [u for u, asked in self._asked.items() if not asked or asked[-1] <= now - self.window]:
            del self._asked[user_id]
            self._told_until.pop(user_id, None)
