"""The demo corpus: fictional sample articles shipped with briefbot, moved in time so the newest is today.

The articles are our own writing (six invented outlets on ``.example`` domains); shifting their dates keeps
"today" and "this week" questions meaningful whenever the demo runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources

from index.article import ArticleRecord
from index.errors import SourceError
from index.settings import IndexSettings
from index.sources import read_sources


def demo_path() -> str:
    return str(resources.files("bot").joinpath("demo", "articles.jsonl"))


def demo_records(settings: IndexSettings, now: datetime | None = None) -> Iterator[ArticleRecord | SourceError]:
    """The demo articles, their dates shifted by whole days so the newest falls on ``now``'s date."""
    items = list(read_sources([demo_path()], settings))
    dates = [r.published for r in items if isinstance(r, ArticleRecord) and r.published]
    shift = timedelta(0)
    if dates:
        today = (now or datetime.now(UTC)).date()
        shift = timedelta(days=(today - max(dates).date()).days)
    for item in items:
        if isinstance(item, ArticleRecord) and item.published:
            yield replace(item, published=item.published + shift)
        else:
            yield item
