"""What every handler gets: the services the application was built with, typed (``context.services``).

PTB makes ``bot_data`` and the callback context from the classes in ``CONTEXT_TYPES``, so a handler's
``context.services`` is the ``Services`` that ``bot.telegram.app.build_application`` set, with its type.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.answering import AnswerEngine
from bot.ask import Asker
from bot.delivery.outbox import FloodGate
from bot.delivery.schedule import DigestScheduler
from bot.settings import Settings
from bot.state import State
from bot.telegram.access import Access, RateLimiter
from index.archive import Archive


@dataclass
class Services:
    """Everything handlers need, built once by ``bot.telegram.app.build_application``."""

    settings: Settings
    archive: Archive
    engine: AnswerEngine
    asker: Asker
    state: State
    access: Access
    limiter: RateLimiter
    owns_archive: bool = True  # opened by build_application: closed at shutdown
    owns_engine: bool = True
    ingest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # aware UTC now (a seam for tests)
    digests: DigestScheduler | None = None  # plans each subscribed chat's digest (None: no JobQueue)
    gate: FloodGate = field(default_factory=FloodGate)  # flood limits shared by digests and alerts
    _locks: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    @contextlib.asynccontextmanager
    async def conversation(self, chat_id: int, thread_id: int | None) -> AsyncIterator[None]:
        """One question at a time per chat and topic, so follow-ups see the turns before them."""
        key = (chat_id, thread_id or 0)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


class BotData:
    """The application's ``bot_data``: the services, set once by ``build_application``."""

    def __init__(self) -> None:
        self.services: Services | None = None


class BotContext(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context of every handler and job, with the services typed."""

    @property
    def services(self) -> Services:
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("the application was built without its services")
        return services


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)
#: The application as ``build_application`` makes it (the rate limiter's retry count is an ``int``; PTB types the
#: JobQueue with its default context whatever ``context_types`` say, but hands jobs a ``BotContext``).
App = Application[ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Any]]
