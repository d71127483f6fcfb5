"""A digest rendered: Telegram HTML messages (``render_digest``) and plain text for a terminal
(``render_digest_text``)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.answering import Citation
from bot.digest.stories import Digest, Story
from bot.html import MAX_MESSAGE_LEN, escape, link, split_html_blocks

DEFAULT_EMPTY_TEXT = "No new stories{about} since {since}."


def _outlet_links(story: Story) -> str:
    """``Outlet`` linked to its first article; its further articles as numbered links after it."""
    by_outlet: dict[str, list[Citation]] = {}
    for c in story.citations:
        by_outlet.setdefault(c.source, []).append(c)
    parts = []
    for outlet, cites in by_outlet.items():
        part = link(cites[0].url, escape(outlet.strip() or "source"))
        if len(cites) > 1:
            part += " (" + ", ".join(link(c.url, str(k)) for k, c in enumerate(cites[1:], 2)) + ")"
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
