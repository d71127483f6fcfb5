"""Embeddings from an OpenAI-compatible endpoint (a local fake): batched, retried, recorded in the collection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.answering import AnswerEngine
from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord
from index.embed import OpenAIEmbedder
from index.errors import IndexMismatchError
from index.ingest import ingest, reindex
from tests.fakes.openai_server import EMBEDDING_DIM, FakeOpenAI

MODEL = "text-embedding-3-small"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        yield fake


def _records(n: int) -> list[ArticleRecord]:
    topics = ["harbour storm flood", "central bank interest rate", "cup final header", "wind farm power"]
    return [
        ArticleRecord(
            url=f"https://example.example/{i}",
            title=f"Report {i} on the {topics[i % 4]}",
            text=f"Officials described the {topics[i % 4]} on day {i}. Residents reacted to the {topics[i % 4]}.",
            published=datetime(2026, 11, 1 + i % 28, tzinfo=UTC),
            source="Example News",
        )
        for i in range(n)
    ]


def _embedding_calls(fake: FakeOpenAI) -> list[dict[str, object]]:
    return [r for r in fake.requests if "input" in r]


def test_ingest_and_search_with_remote_embeddings(server: FakeOpenAI) -> None:
    settings = Settings(embedding_model=MODEL)
    archive = Archive(settings)
    report = ingest(archive, _records(12))
    assert report.added == 12 and report.failed == []
    calls = _embedding_calls(server)
    assert calls and all(c["model"] == MODEL for c in calls)
    assert archive.store.count() == archive.catalog.counts()[1]
    hit = AnswerEngine(archive, settings).searcher.search("central bank interest rate", k=3).hits[0]
    assert "central bank" in hit.title
    assert len(archive.store.vectors([hit.passage_id])[hit.passage_id]) == EMBEDDING_DIM
    archive.close()
    # the local model cannot read these vectors: a clear error that names the fix
    with pytest.raises(IndexMismatchError, match="reindex"):
        Archive(Settings())


def test_batches_stay_within_the_api_limit(server: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(MODEL, base_url=server.base_url, batch_size=5000)
    vectors = embedder.embed([f"text number {i}" for i in range(4100)])
    assert vectors.shape == (4100, EMBEDDING_DIM)
    sizes = [len(c["input"]) for c in _embedding_calls(server)]  # type: ignore[arg-type]
    assert max(sizes) <= 2048 and sum(sizes) == 4100


def test_rate_limits_and_server_errors_are_retried(server: FakeOpenAI) -> None:
    server.fail_next(429)
    server.fail_next(500)
    vectors = OpenAIEmbedder(MODEL, base_url=server.base_url).embed(["one", "two"])
    assert vectors.shape == (2, EMBEDDING_DIM)
    assert len(_embedding_calls(server)) == 3


def test_reindex_moves_an_archive_to_another_model(server: FakeOpenAI) -> None:
    local = Archive(Settings())
    ingest(local, _records(4))
    passages = local.catalog.counts()[1]
    local.close()
    remote = Archive(Settings(embedding_model=MODEL), check_model=False)
    assert reindex(remote) == passages
    remote.close()
    reopened = Archive(Settings(embedding_model=MODEL))  # no mismatch any more
    assert reopened.store.count() == passages
    reopened.close()
