"""Digests: the demo corpus's stories clustered across outlets, ranked, scoped by topic, rendered for Telegram.

The demo corpus is ingested once per module (the embedded model takes ~10 s for it); the clustering itself is
also tested on synthetic vectors and texts, without the model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answering import Citation
from bot.digest import (
    Digest,
    Story,
    compose_digest,
    compose_digest_async,
    lead_summary,
    matches_topic,
    render_digest,
    render_digest_text,
    summarize_stories,
)
from bot.digest.cluster import ClusterParams, cluster_articles, jaccard, shingles
from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord
from index.ingest import ingest
from index.sources import read_sources
from tests.test_render import check_messages, parse

DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo" / "articles.jsonl"
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
# The demo's four stories told by three outlets each, by a fragment of each article's URL.
STORIES = {
    "sanctions": ("tervania-rejects", "korvisk-says", "sanctions-row"),
    "blackout": ("substation-fire", "power-mostly-restored", "minister-orders-grid"),
    "rates": ("raises-rates", "central-bank-hikes", "homeowners-brace"),
    "storm": ("storm-edda-floods", "edda-one-dead", "counts-cost-of-edda"),
}
UNDATED_DAY = datetime(2027, 1, 5, 12, tzinfo=UTC)


def _story_of(url: str) -> str | None:
    return next((name for name, keys in STORIES.items() if any(k in url for k in keys)), None)


def _urls(story: Story) -> set[str]:
    return {c.url for c in story.citations}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """The demo corpus in its own home, plus one undated article ingested on UNDATED_DAY."""
    home = tmp_path_factory.mktemp("digest") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRIEFBOT_CONFIG", str(home / "no-such-briefbot.toml"))
        for key in ("BRIEFBOT_EMBEDDING_MODEL", "BRIEFBOT_CHROMA_URL", "BRIEFBOT_COLLECTION"):
            mp.delenv(key, raising=False)
        config = Settings(home=home)
    a = Archive(config)
    report = ingest(a, read_sources([str(DEMO)], config))
    assert (report.added, report.duplicates, report.failed) == (23, 1, [])
    undated = ArticleRecord(
        url="https://harbortimes.example/notes/ferry-timetable",
        title="Winter ferry timetable published",
        text="The harbour authority published the winter ferry timetable on Tuesday, with fewer night sailings.",
        published=None,
        source="Harbor Times",
    )
    assert ingest(a, [undated], now=lambda: UNDATED_DAY).added == 1
    yield a
    a.close()


@pytest.fixture(scope="module")
def digest(archive: Archive) -> Digest:
    return compose_digest(archive, since=SINCE, until=UNTIL, max_stories=50)


# --- clustering the demo corpus ---------------------------------------------------------------------------------


def test_each_three_outlet_story_becomes_one_story_citing_its_three_outlets(digest: Digest) -> None:
    for name in STORIES:
        matching = [s for s in digest.stories if any(_story_of(c.url) == name for c in s.citations)]
        assert len(matching) == 1, (name, [s.headline for s in matching])
        story = matching[0]
        assert len(story.citations) == 3 and len(story.outlets) == 3, (name, story)
        assert {_story_of(c.url) for c in story.citations} == {name}


def test_no_unrelated_article_joins_a_story(digest: Digest) -> None:
    # 23 stored articles in the window: the four three-outlet stories and eleven stories of one article.
    assert sorted(len(s.citations) for s in digest.stories) == [1] * 11 + [3] * 4
    singles = " ".join(next(iter(_urls(s))) for s in digest.stories if len(s.citations) == 1)
    # The cup final (mentions the storm and the mayor) and the house prices (the rate rise) stay on their own.
    assert "port-aldren-fc-win" in singles and "house-prices-fall" in singles


def test_the_syndicated_copy_appears_once(digest: Digest) -> None:
    chirpline = [c for s in digest.stories for c in s.citations if "Chirpline" in c.title]
    assert len(chirpline) == 1
    assert chirpline[0].source == "Meridian Wire"


def test_three_outlet_stories_rank_above_single_ones(digest: Digest) -> None:
    sizes = [len(s.outlets) for s in digest.stories]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[:4] == [3, 3, 3, 3]


def test_headline_and_summary_come_from_the_medoid_lead(digest: Digest) -> None:
    storm = next(s for s in digest.stories if "storm-edda-floods" in " ".join(_urls(s)))
    assert storm.headline in {c.title for c in storm.citations}
    rates = next(s for s in digest.stories if "raises-rates" in " ".join(_urls(s)))
    for story in digest.stories:
        assert 20 < len(story.summary) <= 350
        assert not story.summary.startswith(("HALVIK", "KORVISK", "PORT ALDREN"))  # datelines skipped
    assert "4.25%" in rates.summary


def test_citations_are_numbered_across_the_digest_in_order(digest: Digest) -> None:
    numbers = [c.n for s in digest.stories for c in s.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    for story in digest.stories:
        dates = [c.published for c in story.citations]
        assert dates == sorted(dates)  # type: ignore[type-var]
        assert list(story.outlets) == list(dict.fromkeys(c.source for c in story.citations))


def test_max_stories_keeps_the_best(archive: Archive, digest: Digest) -> None:
    top = compose_digest(archive, since=SINCE, until=UNTIL, max_stories=3)
    assert [s.headline for s in top.stories] == [s.headline for s in digest.stories[:3]]
    assert [c.n for s in top.stories for c in s.citations] == list(range(1, 10))


# --- topics ---------------------------------------------------------------------------------------------------


def test_followed_topics_come_first(archive: Archive) -> None:
    d = compose_digest(archive, since=SINCE, until=UNTIL, topics=["Strikes", "vaccine", "cricket"], max_stories=50)
    assert {s.topics for s in d.stories[:2]} == {("Strikes",), ("vaccine",)}
    assert all(not s.topics for s in d.stories[2:])
    assert len(d.stories[2].outlets) == 3  # then the usual order


def test_a_topic_brief_keeps_only_that_story(archive: Archive) -> None:
    d = compose_digest(archive, since=SINCE, until=UNTIL, topic="sanctions")
    assert len(d.stories) == 1
    assert {_story_of(u) for u in _urls(d.stories[0])} == {"sanctions"}
    assert len(d.stories[0].outlets) == 3


@pytest.mark.parametrize(
    ("topic", "story"),
    [
        ("storm", "storm"),  # the cup final mentions Storm Edda in its first sentence: not a storm story
        ("blackout", "blackout"),  # the storm story mentions the blackout: not a blackout story
        ("Sanctions", "sanctions"),
    ],
)
def test_topic_briefs_leave_out_stories_that_merely_mention_the_topic(archive: Archive, topic: str, story: str) -> None:
    d = compose_digest(archive, since=SINCE, until=UNTIL, topic=topic)
    assert [{_story_of(u) for u in _urls(s)} for s in d.stories] == [{story}]


def test_a_topic_brief_respects_the_window(archive: Archive) -> None:
    d = compose_digest(archive, since=SINCE, until=datetime(2026, 11, 24, tzinfo=UTC), topic="sanctions")
    assert d.empty


def test_topic_matching_is_case_insensitive_and_lightly_stemmed() -> None:
    assert matches_topic("Interest Rates", "Bank raises its key rate", "the interest on loans")
    assert matches_topic("sanction", "", "New sanctions were announced")
    assert not matches_topic("interest rates", "Rates rise", "")  # every word must occur
    assert not matches_topic("the", "the the", "the")  # stopwords only: matches nothing


# --- windows and empty digests --------------------------------------------------------------------------------


def test_an_empty_window_gives_an_empty_digest(archive: Archive) -> None:
    since = datetime(2025, 1, 1, 8, tzinfo=UTC)
    d = compose_digest(archive, since=since, until=since + timedelta(days=1))
    assert d.empty and d.as_json()["stories"] == []
    messages = render_digest(d)
    assert messages == ["No new stories since 2025-01-01 08:00 UTC."]
    assert render_digest_text(d) == "No new stories since 2025-01-01 08:00 UTC."
    brief = compose_digest(archive, since=since, until=since + timedelta(days=1), topic="storm")
    assert render_digest(brief, title="Brief") == [
        "<b>Brief</b>\n\nNo new stories about “storm” since 2025-01-01 08:00 UTC."
    ]


def test_undated_articles_count_by_when_they_were_ingested(archive: Archive) -> None:
    d = compose_digest(archive, since=UNDATED_DAY - timedelta(hours=1), until=UNDATED_DAY + timedelta(hours=1))
    assert [s.headline for s in d.stories] == ["Winter ferry timetable published"]
    assert d.as_json()["stories"][0]["citations"][0]["published"] is None  # type: ignore[index]
    early = compose_digest(archive, since=UNDATED_DAY + timedelta(seconds=1), until=UNDATED_DAY + timedelta(days=1))
    assert early.empty


def test_bad_windows_are_refused(archive: Archive) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose_digest(archive, since=datetime(2026, 11, 20), until=UNTIL)
    with pytest.raises(ValueError, match="empty"):
        compose_digest(archive, since=UNTIL, until=SINCE)


# --- JSON and rendering ---------------------------------------------------------------------------------------


def test_json_shape_is_exact(digest: Digest) -> None:
    data = json.loads(json.dumps(digest.as_json()))
    assert set(data) == {"since", "until", "stories"}
    assert datetime.fromisoformat(data["since"]) == SINCE and datetime.fromisoformat(data["until"]) == UNTIL
    for story in data["stories"]:
        assert set(story) == {"headline", "summary", "outlets", "citations"}
        assert isinstance(story["outlets"], list) and story["outlets"]
        for c in story["citations"]:
            assert set(c) == {"n", "title", "url", "source", "published"}
            assert isinstance(c["n"], int) and c["url"].startswith("https://")
            assert datetime.fromisoformat(c["published"]).tzinfo is not None


def test_rendering_is_valid_telegram_html(digest: Digest) -> None:
    messages = render_digest(digest, title="Your briefing & more <today>")
    texts = check_messages(messages)
    assert texts[0].startswith("Your briefing & more <today>")
    assert "&amp;" in messages[0] and "&lt;today&gt;" in messages[0]
    whole = "\n\n".join(texts)
    assert "3 outlets: Harbor Times, Valley Courier, Global Brief" in whole
    assert "1 outlet: Meridian Wire" in whole
    assert "Keller & Sons" in whole and "Keller &amp; Sons" in "".join(messages)
    # every citation is linked
    joined = "".join(messages)
    for story in digest.stories:
        for c in story.citations:
            assert f'href="{c.url}"' in joined


def test_long_digests_split_between_stories_within_the_limit() -> None:
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    stories = tuple(
        Story(
            headline=f"Story {k}: <b>A & B</b> {'x' * 40}",
            summary="Words & <symbols> " * 30,
            outlets=("Out<let> & Co", "Second"),
            citations=(
                Citation(2 * k + 1, f"a{k}", "T", f"https://a.example/{k}?x=1&y=2", "Out<let> & Co", t0),
                Citation(2 * k + 2, f"b{k}", "T", f"https://b.example/{k}", "Second", t0),
            ),
        )
        for k in range(80)
    )
    d = Digest(t0, t0 + timedelta(days=1), stories)
    messages = render_digest(d)
    assert len(messages) > 3
    texts = check_messages(messages)
    assert sum(t.count("2 outlets: ") for t in texts) == 80  # no story cut in two
    assert all(t.count("Story ") == t.count("2 outlets: ") for t in texts)
    assert 'href="https://a.example/0?x=1&amp;y=2"' in messages[0]
    assert "Out&lt;let&gt; &amp; Co" in messages[0]


def test_a_non_http_url_is_named_not_linked() -> None:
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    story = Story(
        "Local note",
        "A note from a file on disk, with enough words.",
        ("local file",),
        (Citation(1, "x", "Local note", "file:///tmp/note.txt", "local file", None),),
    )
    (message,) = render_digest(Digest(t0, t0 + timedelta(days=1), (story,)))
    assert "<a " not in message and parse(message).endswith("1 outlet: local file")


def test_text_rendering_lists_every_source(digest: Digest) -> None:
    text = render_digest_text(digest)
    assert text.startswith("Top stories, 2026-11-20 00:00 UTC to 2026-12-01 00:00 UTC")
    for story in digest.stories:
        for c in story.citations:
            assert f"[{c.n}] {c.source}" in text and c.url in text


# --- summaries ------------------------------------------------------------------------------------------------


def test_lead_summary_skips_datelines_and_bylines() -> None:
    text = (
        "By Jane Roe\n\nUpdated 9:14 a.m. ET\n\n"
        "HALVIK, Nov 26 (Meridian Wire) - The central bank raised rates on Thursday. It was the first rise in a "
        "year.\n\nMore follows here in a later paragraph."
    )
    assert lead_summary(text) == "The central bank raised rates on Thursday. It was the first rise in a year."
    assert lead_summary("CNN —\n\nAt least five people were injured on Saturday after two missiles struck.") == (
        "At least five people were injured on Saturday after two missiles struck."
    )
    long = "The council met " + "and talked at length " * 40 + "before it voted."
    summary = lead_summary(long)
    assert len(summary) <= 350 and summary.endswith("…")


class FakeLLM:
    """A chat model that answers from a script, or fails."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

    async def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int | None = None, timeout: float | None = None
    ) -> str:
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_an_llm_writes_the_summaries(archive: Archive) -> None:
    llm = FakeLLM("Tervania rejected the Coastal Union's sanctions and summoned three ambassadors.")
    d = asyncio.run(compose_digest_async(archive, since=SINCE, until=UNTIL, topic="sanctions", llm=llm))
    assert d.stories[0].summary == "Tervania rejected the Coastal Union's sanctions and summoned three ambassadors."
    (messages,) = llm.calls
    assert messages[0]["role"] == "system" and "Korvisk" in messages[1]["content"]


@pytest.mark.parametrize(
    "reply",
    [
        RuntimeError("timeout"),
        TimeoutError(),  # no message of its own: logged by its type
        "",
        "See [1] <b>here</b> for more details on it",
        "You write one item of a news briefing, saying what happened: who, what, where, when.",  # the prompt
        "The turbines are 100 metres long and were built in Denmark last year.",  # invented
    ],
)
def test_the_extractive_summary_stays_when_the_llm_fails(digest: Digest, reply: str | Exception) -> None:
    again = asyncio.run(summarize_stories(digest, FakeLLM(reply)))
    assert [s.summary for s in again.stories] == [s.summary for s in digest.stories]


# --- the clustering alone, on synthetic data (no model) ----------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_clusters_form_around_stories_and_a_bridge_does_not_chain_them() -> None:
    rng = np.random.default_rng(7)
    dim = 32
    axes = np.eye(dim)
    vectors, texts = [], []
    for story in range(3):
        for k in range(3):
            vectors.append(_unit(axes[story] + 0.2 * rng.normal(size=dim) / np.sqrt(dim)))
            texts.append(f"story {story} version {k} " + " ".join(f"w{rng.integers(10**6)}" for _ in range(50)))
    # An article halfway between stories 0 and 1 (the cup final that mentions the storm).
    vectors.append(_unit(axes[0] + axes[1]))
    texts.append("a bridge " + " ".join(f"w{rng.integers(10**6)}" for _ in range(50)))
    result = cluster_articles(np.array(vectors), texts, [f"t{k}" for k in range(10)])
    groups = sorted(sorted(c) for c in result.clusters)
    assert [0, 1, 2] in groups or [0, 1, 2, 9] in groups
    assert [3, 4, 5] in groups and [6, 7, 8] in groups
    assert not any({0, 3} <= set(c) for c in groups)  # single linkage would have chained them
    assert result.stats["largest_component"] >= 7  # the bridge did connect them at the link threshold


def test_shared_text_clusters_whatever_the_vectors_say() -> None:
    rng = np.random.default_rng(3)
    base = " ".join(f"word{rng.integers(10**6)}" for _ in range(300))
    edited = "EDITOR'S NOTE: updated. " + base.replace("word", "term", 3)  # a syndicated copy, lightly edited
    other = " ".join(f"word{rng.integers(10**6)}" for _ in range(300))
    vectors = np.eye(3, 8)  # orthogonal: the embeddings alone would keep all three apart
    result = cluster_articles(vectors, [base, edited, other], ["A", "B", "C"])
    assert sorted(result.clusters) == [[0, 1], [2]]
    assert result.stats["duplicate_pairs"] == 1  # above Feedly's 85%
    assert jaccard(shingles(base), shingles(edited)) >= 0.85


def test_empty_input_and_mismatched_lengths() -> None:
    assert cluster_articles(np.zeros((0, 4)), [], []).clusters == []
    with pytest.raises(ValueError, match="one each"):
        cluster_articles(np.zeros((2, 4)), ["a"], ["a", "b"])


TEXTS = st.sampled_from(
    [
        "The council voted to close the harbour on Monday after the storm.",
        "Rates rise again as the central bank fights inflation.",
        "!!!",
        "A short one",
        "The council voted to close the harbour on Monday after the storm. More later.",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(TEXTS, min_size=1, max_size=24),
    seed=st.integers(0, 2**32 - 1),
    link=st.floats(0.3, 0.95),
    spread=st.floats(0.0, 1.0),
)
def test_clusters_partition_the_input_and_identical_texts_stay_together(
    texts: list[str], seed: int, link: float, spread: float
) -> None:
    rng = np.random.default_rng(seed)
    n = len(texts)
    centres = rng.normal(size=(3, 16))
    vectors = centres[rng.integers(0, 3, size=n)] + spread * rng.normal(size=(n, 16))
    if n > 1:
        vectors[rng.integers(0, n)] = 0.0  # an article without a stored vector
    params = replace(ClusterParams(), link=link, average=link - 0.05)
    result = cluster_articles(vectors, texts, [t[:12] for t in texts], params)
    members = sorted(i for c in result.clusters for i in c)
    assert members == list(range(n))
    where = {i: k for k, c in enumerate(result.clusters) for i in c}
    for i in range(n):
        for j in range(i + 1, n):
            if texts[i] == texts[j]:
                assert where[i] == where[j]
    assert all(m in c for c, m in zip(result.clusters, result.medoids, strict=True))
