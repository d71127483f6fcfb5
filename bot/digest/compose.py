"""Composing a digest: a window's articles clustered into stories, ranked and cited.

``compose_digest`` reads the articles published (or, when undated, ingested) in ``[since, until)`` from the
catalog, keeps those about ``topic`` when one is given (``/brief sanctions this week``), groups the rest into
stories (``bot.digest.cluster``: shared text, the lead passages' stored vectors, headline overlap; nothing is
re-embedded), ranks the stories (followed topics first, then by how many outlets covered them, how many articles
and how recent) and gives each a headline, a summary (``bot.digest.summaries``) and a citation per article.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.answering import Citation
from bot.digest.cluster import ClusterParams, cluster_articles, story_mates
from bot.digest.stories import Digest, Story
from bot.digest.summaries import SummaryModel, lead_summary, summarize_stories
from index.archive import Archive
from index.errors import BriefbotError
from index.search import Searcher
from index.terms import query_terms, stem

log = logging.getLogger(__name__)

LEAD_CHARS = 600  # how much of an article's start counts as its lead for topic matching
# Topic briefs: cosine of the embedded topic to an article's lead passage, on all-MiniLM-L6-v2's scale. Measured on
# the demo corpus and 1,000 rtqa articles: articles about a one-word topic 0.21-0.59; the cup final that mentions
# the storm < 0.1; roundups ("50 States", "Quarantine entertainment") that mention a hurricane far down 0.25-0.30.
TOPIC_LEAD_SIM = 0.15  # topic words in the lead: enough unless the article is plainly about something else
TOPIC_BODY_SIM = 0.30  # topic words only further down: the lead must also be close in meaning
TOPIC_DENSE_SIM = 0.45  # no topic words at all: only when very close in meaning


@dataclass(frozen=True)
class _Article:
    id: str
    url: str
    title: str
    source: str
    published: datetime | None
    when: datetime  # published, or ingested when undated
    text: str


# --- reading the window ---------------------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (Telegram gives no time zone: convert local times first)")
    return value.astimezone(UTC)


def _window_articles(archive: Archive, since: datetime, until: datetime) -> list[_Article]:
    """Articles published in the window, or ingested in it when undated; oldest first."""
    # ingested_at is ISO text; a day of slack around the string bounds, then an exact check on the parsed time.
    rows = archive.catalog.db.execute(
        "SELECT id, url, title, source, published, ingested_at, text FROM articles "
        "WHERE (published_ts >= ? AND published_ts < ?) "
        "OR (published_ts IS NULL AND ingested_at >= ? AND ingested_at < ?)",
        (
            since.timestamp(),
            until.timestamp(),
            (since - timedelta(days=1)).isoformat(),
            (until + timedelta(days=1)).isoformat(),
        ),
    ).fetchall()
    out: list[_Article] = []
    for row in rows:
        published = datetime.fromisoformat(row["published"]) if row["published"] else None
        when = published or datetime.fromisoformat(row["ingested_at"])
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if since <= when < until:
            out.append(_Article(row["id"], row["url"], row["title"], row["source"], published, when, row["text"]))
    out.sort(key=lambda a: (a.when, a.id))
    return out


def _lead_vectors(archive: Archive, articles: Sequence[_Article]) -> np.ndarray:
    """Each article's first passage vector, as stored (a zero row where Chroma has none)."""
    lead: dict[str, str] = {}
    ids = [a.id for a in articles]
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        rows = archive.catalog.db.execute(
            "SELECT article_id, id, min(idx) FROM passages "
            f"WHERE article_id IN ({','.join('?' * len(part))}) GROUP BY article_id",
            part,
        )
        lead.update((r[0], r[1]) for r in rows)
    vectors = archive.vectors([lead[a] for a in ids if a in lead])
    dim = len(next(iter(vectors.values()))) if vectors else 1
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for k, aid in enumerate(ids):
        vec = vectors.get(lead.get(aid, ""))
        if vec is not None:
            out[k] = vec
    return out


# --- topics ---------------------------------------------------------------------------------------------------


def _topic_stems(topic: str) -> list[str]:
    return list(dict.fromkeys(stem(w) for w in query_terms(topic)))


def _has_all(stems: Sequence[str], text: str) -> bool:
    """Whether every stem occurs in ``text`` as a word with that stem (case-insensitive)."""
    low = text.lower()
    for s in stems:
        prefix = s[:4]
        if prefix not in low:
            return False  # the common case, at C speed
        words = re.findall(rf"(?<!\w){re.escape(prefix)}[\w'’-]*", low)
        if not any(stem(w.strip("'’-")) == s for w in words):
            return False
    return True


def matches_topic(topic: str, title: str, text: str) -> bool:
    """Whether all the content words of ``topic`` (stemmed, any case) occur in ``title`` or ``text``.

    Args:
        topic: a followed topic or brief topic ("interest rates").
        title: a headline.
        text: text to search besides the title (for followed topics: the lead).

    Returns:
        True when every content word matches; False for a topic of stopwords only.
    """
    stems = _topic_stems(topic)
    return bool(stems) and _has_all(stems, f"{title}\n{text}")


def _lead(text: str) -> str:
    return text[:LEAD_CHARS]


def _relevant(archive: Archive, articles: Sequence[_Article], vectors: np.ndarray, topic: str) -> set[int]:
    """Indices of ``articles`` about ``topic``: its words in the headline, or in the lead or body with the lead
    passage close enough in meaning (its stored vector against the embedded topic; a roundup that mentions the
    topic in its fortieth paragraph has a lead about something else)."""
    stems = _topic_stems(topic)
    similarity: np.ndarray | None = None
    try:
        query = Searcher(archive).embed_query(topic)
        norms = np.linalg.norm(vectors, axis=1) * float(np.linalg.norm(query))
        similarity = np.divide(vectors @ query, norms, out=np.zeros(len(articles)), where=norms > 0)
    except BriefbotError as exc:  # the embedding endpoint is down: words alone decide
        log.warning("topic %r matched by words only: %s", topic, exc)
    out: set[int] = set()
    for k, a in enumerate(articles):
        sim = float(similarity[k]) if similarity is not None else None
        if stems and _has_all(stems, a.title):
            out.add(k)
        elif stems and _has_all(stems, _lead(a.text)):
            if sim is None or sim >= TOPIC_LEAD_SIM:
                out.add(k)
        elif sim is not None and (sim >= TOPIC_DENSE_SIM or (sim >= TOPIC_BODY_SIM and _has_all(stems, a.text))):
            out.add(k)
    return out


# --- composing ------------------------------------------------------------------------------------------------


def compose_digest(
    archive: Archive,
    *,
    since: datetime,
    until: datetime,
    topics: Sequence[str] = (),
    topic: str | None = None,
    max_stories: int = 8,
    params: ClusterParams | None = None,
) -> Digest:
    """The stories of a time window, with extractive summaries (``compose_digest_async`` adds a model's).

    Args:
        archive: the archive to read (nothing is embedded except ``topic``).
        since: start of the window, inclusive, timezone-aware.
        until: end of the window, exclusive, timezone-aware.
        topics: the chat's followed topics: stories matching any come first.
        topic: keep only stories about this (``/brief sanctions``).
        max_stories: at most this many stories.
        params: clustering thresholds (the calibrated defaults when None).

    Returns:
        The digest; ``digest.empty`` when the window has no (matching) articles.

    Raises:
        ValueError: for naive datetimes, an empty window or ``max_stories`` below 1.
    """
    since, until = _utc(since, "since"), _utc(until, "until")
    if until <= since:
        raise ValueError(f"the window is empty: until ({until.isoformat()}) is not after since ({since.isoformat()})")
    if max_stories < 1:
        raise ValueError("max_stories must be at least 1")
    started = time.perf_counter()
    stats: dict[str, float] = {}
    articles = _window_articles(archive, since, until)
    stats["window_articles"] = len(articles)
    stats["read_seconds"] = time.perf_counter() - started
    if not articles:
        stats["seconds"] = time.perf_counter() - started
        return Digest(since, until, (), topic, stats)
    t = time.perf_counter()
    vectors = _lead_vectors(archive, articles)
    stats["vector_seconds"] = time.perf_counter() - t
    wanted: set[int] | None = None
    if topic and topic.strip():
        t = time.perf_counter()
        wanted = _relevant(archive, articles, vectors, topic)
        stats["topic_articles"] = len(wanted)
        if not wanted:
            stats["seconds"] = time.perf_counter() - started
            return Digest(since, until, (), topic, stats)
        keep = story_mates(vectors, sorted(wanted), params)
        articles = [articles[k] for k in keep]
        vectors = vectors[keep]
        position = {k: p for p, k in enumerate(keep)}
        wanted = {position[k] for k in wanted}
        stats["topic_seconds"] = time.perf_counter() - t

    clustering = cluster_articles(vectors, [a.text for a in articles], [a.title for a in articles], params)
    stats.update({f"cluster_{k}": v for k, v in clustering.stats.items()})
    t = time.perf_counter()
    span = (until - since).total_seconds()
    followed_stems = [(tp, _topic_stems(tp)) for tp in topics]
    ranked = []
    for members, centre in zip(clustering.clusters, clustering.medoids, strict=True):
        if wanted is not None and not wanted.intersection(members):
            continue
        group = [articles[k] for k in members]
        outlets = len({a.source for a in group})
        latest = max(a.when for a in group)
        recency = min(1.0, max(0.0, (latest - since).total_seconds() / span))
        score = outlets + 0.25 * math.log2(len(group) / outlets) + 0.5 * recency
        followed = tuple(
            tp
            for tp, stems in followed_stems
            if stems and any(_has_all(stems, f"{a.title}\n{_lead(a.text)}") for a in group)
        )
        ranked.append(((not followed, -score, -latest.timestamp()), group, articles[centre], followed, score))
    ranked.sort(key=lambda r: r[0])
    numbered: list[Story] = []
    n = 0
    for _, group, medoid, followed, score in ranked[:max_stories]:
        numbered.append(_story(group, medoid, followed, score, first=n + 1))
        n += len(group)
    stats["rank_seconds"] = time.perf_counter() - t
    stats["seconds"] = time.perf_counter() - started
    return Digest(since, until, tuple(numbered), topic, stats)


async def compose_digest_async(
    archive: Archive,
    *,
    since: datetime,
    until: datetime,
    topics: Sequence[str] = (),
    topic: str | None = None,
    max_stories: int = 8,
    llm: SummaryModel | None = None,
    timeout: float = 30.0,
    max_tokens: int = 120,
) -> Digest:
    """``compose_digest`` in a worker thread (it clusters: CPU work), then the model's summaries when ``llm`` is
    given (each story keeps its extractive summary where the model fails, ``timeout`` passes or the summary is
    rejected)."""
    digest = await asyncio.to_thread(
        compose_digest,
        archive,
        since=since,
        until=until,
        topics=tuple(topics),
        topic=topic,
        max_stories=max_stories,
    )
    if llm is not None and not digest.empty:
        digest = await summarize_stories(digest, llm, timeout=timeout, max_tokens=max_tokens)
    return digest


def _story(group: list[_Article], medoid: _Article, followed: tuple[str, ...], score: float, *, first: int) -> Story:
    """The story of ``group`` (oldest first), its citations numbered from ``first``."""
    others = [a for a in group if a is not medoid]
    return Story(
        headline=medoid.title.strip() or lead_summary(medoid.text, 120),
        summary=lead_summary(medoid.text),
        outlets=tuple(dict.fromkeys(a.source for a in group)),
        citations=tuple(Citation(first + k, a.id, a.title, a.url, a.source, a.published) for k, a in enumerate(group)),
        topics=followed,
        latest=max(a.when for a in group),
        score=score,
        leads=tuple(f"{a.source}: {a.title}\n{a.text[:1200]}" for a in [medoid, *others]),
    )
