"""The digest: a window's articles clustered into stories, ranked, summarised and cited; rendered for Telegram.

``compose_digest`` reads the articles published (or, when undated, ingested) in ``[since, until)`` from the
catalog, keeps those about ``topic`` when one is given (``/brief sanctions this week``), groups the rest into
stories (``bot.cluster``: shared text, the lead passages' stored vectors, headline overlap; nothing is
re-embedded), ranks the stories (followed topics first, then by how many outlets covered them, how many articles
and how recent) and gives each a headline, a one- or two-sentence summary and a citation per article.

Summaries are extractive: the lead sentences of the story's most representative article (its medoid), datelines
and bylines skipped. With a chat model (``summarize_stories``), the model writes them and the extractive
summary stays wherever it fails.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from bot.answer_types import Citation
from bot.cluster import ClusterParams, cluster_articles, story_mates
from bot.extractive import dateline_end, stem
from bot.render import MAX_MESSAGE_LEN, escape, split_html_blocks
from index.archive import Archive
from index.errors import BriefbotError
from index.search import Searcher, query_terms
from index.sentences import split_sentences

__all__ = [
    "DEFAULT_EMPTY_TEXT",
    "Digest",
    "Story",
    "SummaryModel",
    "brief_window",
    "compose_digest",
    "lead_summary",
    "matches_topic",
    "render_digest",
    "render_digest_text",
    "summarize_stories",
]

log = logging.getLogger(__name__)

DEFAULT_EMPTY_TEXT = "No new stories{about} since {since}."
SUMMARY_CHARS = 350
LEAD_CHARS = 600  # how much of an article's start counts as its lead for topic matching
# Topic briefs: cosine of the embedded topic to an article's lead passage, on all-MiniLM-L6-v2's scale. Measured on
# the demo corpus and 1,000 rtqa articles: articles about a one-word topic 0.21-0.59; the cup final that mentions
# the storm < 0.1; roundups ("50 States", "Quarantine entertainment") that mention a hurricane far down 0.25-0.30.
TOPIC_LEAD_SIM = 0.15  # topic words in the lead: enough unless the article is plainly about something else
TOPIC_BODY_SIM = 0.30  # topic words only further down: the lead must also be close in meaning
TOPIC_DENSE_SIM = 0.45  # no topic words at all: only when very close in meaning
SUMMARY_PROMPT = (
    "You write one item of a news briefing. From the articles given, and nothing else, write one or two plain "
    "sentences (at most 60 words) saying what happened: who, what, where, when. No opinions, no markup, no "
    "citations, no preamble."
)

_BYLINE = re.compile(
    r"^(?:by\s|updated\b|published\b|posted\b|photo\b|image\b|advertisement\b|listen\b|watch\b|read more\b)",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[\w'’-]+")


class SummaryModel(Protocol):
    """A chat model: ``bot.llm.ChatLLM`` fits, and so does any fake with the same method."""

    async def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's reply to ``messages`` (OpenAI chat format)."""
        ...


@dataclass(frozen=True)
class Story:
    """One story of a digest: the articles of one cluster.

    Attributes:
        headline: the title of the cluster's most representative article.
        summary: one or two sentences.
        outlets: distinct outlet names, in the order of their first article.
        citations: one per article, earliest first, numbered across the whole digest.
        topics: the chat's followed topics the story matched.
        latest: when its newest article appeared.
        score: the ranking score (outlets, then size, then recency).
    """

    headline: str
    summary: str
    outlets: tuple[str, ...]
    citations: tuple[Citation, ...]
    topics: tuple[str, ...] = ()
    latest: datetime | None = None
    score: float = 0.0
    leads: tuple[str, ...] = field(default=(), repr=False)  # each article's start, for the LLM prompt

    def as_json(self) -> dict[str, object]:
        return {
            "headline": self.headline,
            "summary": self.summary,
            "outlets": list(self.outlets),
            "citations": [c.as_json(with_quote=False) for c in self.citations],
        }


@dataclass(frozen=True)
class Digest:
    """The stories of ``[since, until)``, best first; ``stats`` says how they were found (not in the JSON)."""

    since: datetime
    until: datetime
    stories: tuple[Story, ...]
    topic: str | None = None
    stats: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.stories

    def as_json(self) -> dict[str, object]:
        """``{"since", "until", "stories": [{"headline", "summary", "outlets", "citations": [...]}]}``."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "stories": [s.as_json() for s in self.stories],
        }


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
    vectors = archive.store.vectors([lead[a] for a in ids if a in lead])
    dim = len(next(iter(vectors.values()))) if vectors else 1
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for k, aid in enumerate(ids):
        vec = vectors.get(lead.get(aid, ""))
        if vec is not None:
            out[k] = vec
    return out


# --- topics ---------------------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    # bot.extractive.stem leaves "rate" but cuts "rates" to "rat": dropping a final "e" makes them meet.
    return stem(word).rstrip("e") or word.lower()


def _topic_stems(topic: str) -> list[str]:
    return list(dict.fromkeys(_stem(w) for w in query_terms(topic)))


def _has_all(stems: Sequence[str], text: str) -> bool:
    """Whether every stem occurs in ``text`` as a word with that light stem (case-insensitive)."""
    low = text.lower()
    for s in stems:
        prefix = s[:4]
        if prefix not in low:
            return False  # the common case, at C speed
        words = re.findall(rf"(?<!\w){re.escape(prefix)}[\w'’-]*", low)
        if not any(_stem(w.strip("'’-")) == s for w in words):
            return False
    return True


def matches_topic(topic: str, title: str, text: str) -> bool:
    """Whether all the content words of ``topic`` (lightly stemmed, any case) occur in ``title`` or ``text``.

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


# --- summaries ------------------------------------------------------------------------------------------------


def _strip_dateline(sentence: str) -> str:
    return sentence[dateline_end(sentence) :]


def _is_prose(sentence: str) -> bool:
    words = _WORDS.findall(sentence)
    if len(words) < 6 or _BYLINE.match(sentence):
        return False
    letters = [ch for ch in sentence if ch.isalpha()]
    return not letters or sum(ch.isupper() for ch in letters) < 0.6 * len(letters)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—–- ")
    return cut + "…"


def lead_summary(text: str, max_chars: int = SUMMARY_CHARS) -> str:
    """The first one or two sentences of an article's prose: datelines, bylines and headline lines skipped.

    Args:
        text: the article's text.
        max_chars: the longest summary. A second sentence is added when the first is short and both fit; a
            first sentence longer than this is cut at a word and ends with "…".

    Returns:
        The summary, white space folded (the text's start when it has no sentence of prose).
    """
    chosen: list[str] = []
    for begin, end in split_sentences(text[:4000]):
        sentence = " ".join(_strip_dateline(text[begin:end]).split())
        if not _is_prose(sentence):
            if chosen:
                break
            continue
        if not chosen:
            chosen.append(sentence)
            if len(sentence) >= max_chars // 2:
                break
        elif len(chosen[0]) + 1 + len(sentence) <= max_chars:
            chosen.append(sentence)
            break
        else:
            break
    if not chosen:  # no prose sentence: the text's start, folded
        return _shorten(" ".join(text.split()), max_chars)
    return _shorten(" ".join(chosen), max_chars)


# --- composing ------------------------------------------------------------------------------------------------


def brief_window(text: str, now: datetime, tz_name: str) -> tuple[str, datetime, datetime, str]:
    """(topic, since, until, label) of "/brief sanctions this week": the window read from the text in the chat's
    zone, the rest as the topic; no window: the last 24 hours."""
    from bot.schedule import zone  # (bot.schedule imports this module)
    from index.timewin import parse_window, strip_window

    window = parse_window(text, now, zone(tz_name)) if text else None
    topic = strip_window(text, window).strip(" ?.!,;:") if text else ""
    if window is None:
        return topic, now - timedelta(hours=24), now, "the last 24 hours"
    return topic, window.start, max(window.end, window.start + timedelta(seconds=1)), window.label


def compose_digest(
    archive: Archive,
    *,
    since: datetime,
    until: datetime,
    topics: Sequence[str] = (),
    topic: str | None = None,
    max_stories: int = 8,
    llm: SummaryModel | None = None,
    params: ClusterParams | None = None,
) -> Digest:
    """The stories of a time window.

    Args:
        archive: the archive to read (nothing is embedded except ``topic``).
        since: start of the window, inclusive, timezone-aware.
        until: end of the window, exclusive, timezone-aware.
        topics: the chat's followed topics: stories matching any come first.
        topic: keep only stories about this (``/brief sanctions``).
        max_stories: at most this many stories.
        llm: a chat model to write the summaries (extractive where it fails). Not from inside a running event
            loop: there, compose without it and ``await summarize_stories(digest, llm)``.
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
    digest = Digest(since, until, tuple(numbered), topic, stats)
    if llm is None or not numbered:
        return digest
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(summarize_stories(digest, llm))
    raise RuntimeError("compose_digest(llm=...) cannot run inside an event loop: await summarize_stories() instead")


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


def _clean_summary(reply: str, max_chars: int) -> str | None:
    text = " ".join(reply.replace("**", "").split()).strip().strip('"“”')
    if not text or len(_WORDS.findall(text)) < 5 or re.search(r"\[\d+\]|<[a-z/]", text):
        return None
    if len(text) > max_chars:
        spans = [text[:e] for _, e in split_sentences(text) if e <= max_chars]
        return spans[-1] if spans else None
    return text


async def summarize_stories(
    digest: Digest, llm: SummaryModel, *, timeout: float = 30.0, max_chars: int = SUMMARY_CHARS, concurrency: int = 4
) -> Digest:
    """The digest with each story's summary written by ``llm`` from its articles' leads.

    Args:
        digest: a composed digest (extractive summaries).
        llm: the chat model.
        timeout: seconds per story before its extractive summary stays.
        max_chars: the longest summary kept; a longer reply is cut at a sentence that fits.
        concurrency: requests in flight at once.

    Returns:
        A new digest. A story keeps its extractive summary when the model fails, times out, or replies with
        something other than plain sentences (markup, citation markers, fewer than five words).
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(story: Story) -> Story:
        articles = "\n\n".join(f"[{k}] {lead}" for k, lead in enumerate(story.leads, 1))
        messages = [
            {"role": "system", "content": SUMMARY_PROMPT},
            {"role": "user", "content": f"Headline: {story.headline}\n\nArticles:\n\n{articles}"},
        ]
        try:
            async with gate:
                reply = await asyncio.wait_for(llm.complete(messages), timeout)
        except Exception as exc:  # any model failure falls back to the extractive summary
            log.warning("LLM summary failed for %r: %s", story.headline, exc)
            return story
        summary = _clean_summary(reply, max_chars)
        return replace(story, summary=summary) if summary else story

    stories = await asyncio.gather(*(one(s) for s in digest.stories))
    return replace(digest, stories=tuple(stories))


# --- rendering ------------------------------------------------------------------------------------------------


def _http_url(url: str) -> str | None:
    url = url.strip()
    ok = re.match(r"https?://[^\s/]+", url, re.IGNORECASE) and not any(ch.isspace() or ord(ch) < 32 for ch in url)
    return url if ok else None


def _a(url: str, text_html: str) -> str:
    href = _http_url(url)
    return f'<a href="{html.escape(href, quote=True)}">{text_html}</a>' if href else text_html


def _outlet_links(story: Story) -> str:
    """``Outlet`` linked to its first article; its further articles as numbered links after it."""
    by_outlet: dict[str, list[Citation]] = {}
    for c in story.citations:
        by_outlet.setdefault(c.source, []).append(c)
    parts = []
    for outlet, cites in by_outlet.items():
        part = _a(cites[0].url, escape(outlet.strip() or "source"))
        if len(cites) > 1:
            part += " (" + ", ".join(_a(c.url, str(k)) for k, c in enumerate(cites[1:], 2)) + ")"
        parts.append(part)
    label = f"{len(by_outlet)} outlet" + ("" if len(by_outlet) == 1 else "s")
    return f"{label}: " + ", ".join(parts)


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _empty_line(digest: Digest, template: str) -> str:
    about = f" about “{digest.topic.strip()}”" if digest.topic and digest.topic.strip() else ""
    return template.format(since=_when(digest.since), until=_when(digest.until), about=about, topic=digest.topic or "")


def render_digest(
    digest: Digest, *, title: str | None = None, empty_text: str = DEFAULT_EMPTY_TEXT, max_len: int = MAX_MESSAGE_LEN
) -> list[str]:
    """The digest as Telegram HTML messages, each within ``max_len`` visible characters.

    Each story is a block: the headline in bold, the summary, then "3 outlets: " and the outlet names, each
    linked to its article. Everything from articles is escaped. Messages break between stories.

    Args:
        digest: what to render.
        title: a first line in bold ("Your morning briefing"), if any.
        empty_text: the one line for an empty digest; ``{since}``, ``{until}``, ``{topic}`` and ``{about}``
            (" about “topic”" or "") are filled in.
        max_len: the visible length limit per message.

    Returns:
        The messages; one line for an empty digest (whether to send it is the caller's decision).
    """
    head = [f"<b>{escape(title.strip())}</b>"] if title and title.strip() else []
    if digest.empty:
        return split_html_blocks([*head, escape(_empty_line(digest, empty_text))], max_len)
    blocks = [f"<b>{escape(s.headline)}</b>\n{escape(s.summary)}\n{_outlet_links(s)}" for s in digest.stories]
    return split_html_blocks([*head, *blocks], max_len)


def render_digest_text(digest: Digest, *, empty_text: str = DEFAULT_EMPTY_TEXT) -> str:
    """The digest as plain text for a terminal.

    Args:
        digest: what to render.
        empty_text: the line for an empty digest, filled in as in ``render_digest``.

    Returns:
        Numbered stories with their summaries and outlets, then every source as ``[n] Outlet · date · Title URL``.
    """
    if digest.empty:
        return _empty_line(digest, empty_text)
    about = f" about “{digest.topic.strip()}”" if digest.topic and digest.topic.strip() else ""
    lines = [f"Top stories{about}, {_when(digest.since)} to {_when(digest.until)}", ""]
    for k, s in enumerate(digest.stories, 1):
        count = len(s.outlets)
        lines.append(f"{k}. {s.headline}")
        lines.append(f"   {s.summary}")
        lines.append(f"   {count} outlet{'' if count == 1 else 's'}: {', '.join(s.outlets)}")
        for c in s.citations:
            day = f" · {c.published.date().isoformat()}" if c.published else ""
            lines.append(f"   [{c.n}] {c.source}{day} · {c.title} {c.url}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
