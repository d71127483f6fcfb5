"""What the bot tests share: a tiny real archive (built once per session), settings pointing at the fake Bot
API server, and running the real Application against it.

The corpus is our own writing: six short fictional articles from invented outlets, one title full of HTML
special characters. Building it embeds ~20 passages with the real offline model, so it happens once per test
session; each test copies it into its own home when it needs to write, or shares one open archive when not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest
from telegram.ext import ExtBot

from bot.answering import AnswerEngine
from bot.settings import Settings
from bot.telegram.app import ALLOWED_UPDATES, build_application, close_services
from bot.telegram.services import App, Services
from index.archive import Archive
from index.article import ArticleRecord
from tests.fakes.telegram import ChatRef, FakeTelegram, FakeUser, StoredMessage


def _article(url: str, title: str, day: int, source: str, *paragraphs: str) -> ArticleRecord:
    return ArticleRecord(
        url=url,
        title=title,
        text="\n\n".join(paragraphs),
        published=datetime(2026, 11, day, 9, 30, tzinfo=UTC),
        source=source,
        origin="bot tests",
    )


ARTICLES = [
    _article(
        "https://harbortimes.example/2026/11/velmar-port-reopens",
        "Port of Velmar to reopen after the storm",
        20,
        "Harbor Times",
        "The Port of Velmar will reopen to shipping on Monday after last week's storm, the city said on Friday.",
        "“The harbor will reopen on Monday, and the ferries will run on their winter timetable,” said Mayor Ilse "
        "Brandt at a news conference on the quay. Crews have cleared the wreckage from the main channel.",
        "Harbor officials counted 40 fishing boats damaged in the marina. Repairs to the north pier will cost "
        "about 12 million crowns and take until spring.",
    ),
    _article(
        "https://capitaldispatch.example/2026/11/norland-bank-holds-rates",
        "Norland central bank holds interest rates at 3.5%",
        21,
        "Capital Dispatch",
        "The Bank of Norland kept its main interest rate at 3.5% on Thursday, the third pause in a row.",
        "“Inflation is cooling, but it is not yet beaten,” said Governor Matthias Orel. He said the bank would "
        "not cut rates before the spring and would watch wages closely.",
        "Consumer prices rose 2.9% in October from a year earlier, down from 3.4% in September.",
    ),
    _article(
        "https://northernledger.example/2026/11/velmar-tram-approved",
        "Velmar council approves a 12 km tram line",
        22,
        "Northern Ledger",
        "Velmar city council approved a 12-kilometre tram line on Wednesday, linking the railway station with "
        "the university and the new hospital.",
        "The line will cost 800 million crowns and open in 2030. “This tram is the biggest investment in public "
        "transport this city has made in fifty years,” said councillor Ana Ruiz, who led the project.",
    ),
    _article(
        "https://sciencewire.example/2026/11/kessel-beetle",
        "New beetle species found in Kessel forest",
        23,
        "Science Wire",
        "Biologists from Velmar University have described a new species of ground beetle living only in the old "
        "oak stands of the Kessel forest.",
        "“We found it under bark that had been lying on the forest floor for decades,” said entomologist Tomas "
        "Lind. The team named the beetle Carabus kesselensis.",
    ),
    _article(
        "https://sportsdesk.example/2026/11/velmar-united-cup",
        "Velmar United win the cup final 2-1",
        24,
        "Sports Desk",
        "Velmar United won the national cup final 2-1 against Orla Rovers on Saturday, with a late goal from "
        "striker Jonas Eklund.",
        "“We never stopped believing, not even at one-nil down,” said coach Petra Holm after the match in front "
        "of 30,000 fans.",
    ),
    _article(
        "https://capitaldispatch.example/2026/11/keller-sons-results",
        "Keller & Sons <Holdings> profit up 8% as prices rise",
        25,
        "Capital Dispatch",
        "Food group Keller & Sons reported an 8% rise in quarterly profit on Tuesday, helped by higher prices "
        "for chilled food.",
        "“Our customers are careful, but they keep buying quality,” said chief executive Johanna Keller.",
    ),
]

#: Questions the corpus answers, and the title of the article that answers each.
HARBOR_Q = "What did Mayor Ilse Brandt say about the harbor reopening?"
HARBOR_TITLE = "Port of Velmar to reopen after the storm"
RATES_Q = "What did Governor Matthias Orel say about inflation and interest rates?"
RATES_TITLE = "Norland central bank holds interest rates at 3.5%"
CUP_Q = "Who won the cup final, and what did coach Petra Holm say?"
UNKNOWN_Q = "What is the population of the Moon colony on Europa?"


def build_corpus(home: Path) -> Path:
    """Ingest ``ARTICLES`` into an archive under ``home`` (once: a marker file says it is done)."""
    from index.archive import Archive
    from index.ingest import ingest

    marker = home / ".corpus-ready"
    if not marker.exists():
        with Archive(Settings(home=home)) as archive:
            report = ingest(archive, ARTICLES)
            assert report.added == len(ARTICLES) and not report.failed, report
        marker.write_text("ok")
    return home


def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's prepared archive (built on first use)."""
    return build_corpus(tmp_path_factory.getbasetemp() / "bot-corpus")


def copy_corpus(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    """A private copy of the prepared archive in ``home`` (for tests that write to the archive)."""
    source = corpus_home(tmp_path_factory)
    shutil.copytree(source, home, dirs_exist_ok=True)
    return home


def bot_settings(server: FakeTelegram, home: Path, **overrides: Any) -> Settings:
    """Settings for a bot talking to ``server``, with its state under ``home``."""
    values: dict[str, Any] = {
        "home": home,
        "telegram_token": server.token,
        "telegram_api_url": server.base_url,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def polling(app: App) -> AsyncIterator[App]:
    """Run the application's polling loop (and its post_init, as run_polling would) for the block."""
    async with app:
        if app.post_init:
            await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, allowed_updates=ALLOWED_UPDATES)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
    await close_services(app)


@contextlib.asynccontextmanager
async def running_bot(
    server: FakeTelegram, home: Path, *, archive: Any = None, engine: Any = None, **overrides: Any
) -> AsyncIterator[App]:
    """``build_application`` with ``bot_settings``, polling ``server`` for the block."""
    app = build_application(bot_settings(server, home, **overrides), archive=archive, engine=engine)
    async with polling(app):
        yield app


def services_of(app: App) -> Services:
    services = app.bot_data.services
    assert isinstance(services, Services)
    return services


# -- fixtures (test modules import them) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """The prepared corpus, opened once per module and shared read-only by its tests."""
    with Archive(Settings(home=corpus_home(tmp_path_factory))) as shared:
        yield shared


@pytest.fixture(scope="module")
def engine(archive: Archive) -> AnswerEngine:
    """An extractive answer engine over ``archive``."""
    return AnswerEngine(archive, Settings(home=archive.settings.home))


@pytest.fixture(scope="module")
def empty_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """An archive with nothing in it: every digest from it is the one-line empty digest (timing is the point)."""
    with Archive(Settings(home=tmp_path_factory.mktemp("empty") / "home")) as archive:
        yield archive


@pytest.fixture
async def bot(server: FakeTelegram, briefbot_home: Path) -> AsyncIterator[ExtBot[None]]:
    """A python-telegram-bot Bot talking to the fake server outside polling, as `digest --send` does."""
    from bot.delivery.broadcast import make_bot

    async with make_bot(bot_settings(server, briefbot_home)) as client:
        yield client


@pytest.fixture
def server() -> Iterator[FakeTelegram]:
    """The fake Bot API server; the bot is @briefbot_test_bot."""
    with FakeTelegram(bot_username="briefbot_test_bot") as fake:
        yield fake


# -- talking to the bot --------------------------------------------------------------------------------------


async def ask(
    server: FakeTelegram,
    chat: ChatRef,
    user: FakeUser,
    text: str,
    *,
    thread_id: int | None = None,
    reply_to: StoredMessage | None = None,
) -> StoredMessage:
    """``user`` writes ``text`` in ``chat``; returns the bot's next message there."""
    before = len(server.bot_messages(chat, include_deleted=True))
    server.add_message(chat, user, text, thread_id=thread_id, reply_to=reply_to)
    sent = await server.async_wait_for_messages(chat, before + 1, timeout=10)
    return sent[before]


def cited_titles(message: StoredMessage) -> list[str]:
    """The titles in the sources footer of an answer, as shown."""
    text = message.text or ""
    footer = text.split("Sources", 1)[1] if "Sources" in text else ""
    return [line.split(" · ")[-1] for line in footer.strip().splitlines() if line[:1].isdigit()]
