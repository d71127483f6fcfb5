"""Answers as Telegram messages: linked ``[n]`` markers, a sources footer, a plain-text fallback.

The HTML rules and the splitting into messages of at most 4096 visible characters are ``bot.html``'s.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bot.answering import Answer, Citation
from bot.html import MARKER, MAX_MESSAGE_LEN, escape, link, split_html_blocks

__all__ = ["render_answer", "render_plain", "render_sources_footer"]

LONG_QUOTE = 200

_PARAGRAPHS = re.compile(r"\n[ \t]*\n\s*")


def _text_with_markers(text: str, citations: dict[int, Citation]) -> str:
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        out.append(escape(text[pos : m.start()]))
        citation = citations.get(int(m[1]))
        out.append(link(citation.url if citation else None, escape(m[0])))
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPHS.split(text.strip()) if p.strip()]


def _source_line(citation: Citation, *, linked: bool) -> str:
    parts = []
    if citation.source.strip():
        parts.append(escape(citation.source.strip()))
    if citation.published is not None:
        parts.append(citation.published.date().isoformat())
    title = citation.title.strip() or citation.url.strip() or "untitled"
    parts.append(link(citation.url if linked else None, escape(title)))
    line = f"{citation.n}. " + " · ".join(parts)
    quote = citation.quote.strip()
    if len(quote) > LONG_QUOTE:
        line += f"\n<blockquote expandable>{escape(quote)}</blockquote>"
    return line


def _sorted_citations(citations: Sequence[Citation]) -> list[Citation]:
    seen: dict[int, Citation] = {}
    for citation in citations:
        seen.setdefault(citation.n, citation)
    return [seen[n] for n in sorted(seen)]


def render_sources_footer(citations: Sequence[Citation]) -> str:
    """The sources block: a line per citation, ``n. Outlet · YYYY-MM-DD · <a href=URL>Title</a>``.

    The date is left out when unknown, the link when the URL is not http(s); quotes longer than about 200
    characters follow their line in an expandable blockquote. Returns "" when there are no citations.
    """
    lines = [_source_line(c, linked=True) for c in _sorted_citations(citations)]
    if not lines:
        return ""
    return "<b>Sources</b>\n" + "\n".join(lines)


def render_answer(answer: Answer, *, max_len: int = MAX_MESSAGE_LEN) -> list[str]:
    """An answer as Telegram HTML messages, each at most ``max_len`` visible characters.

    ``[n]`` markers become links to citation ``n`` when it exists with an http(s) URL; a sources footer
    follows. A plain abstention is its text alone (one citing related coverage has its sources). Returns an
    empty list for an empty answer.
    """
    if answer.abstained and not answer.citations:
        return split_html_blocks([escape(p) for p in _paragraphs(answer.text)], max_len)
    by_n = {c.n: c for c in _sorted_citations(answer.citations)}
    blocks = [_text_with_markers(p, by_n) for p in _paragraphs(answer.text)]
    footer = render_sources_footer(answer.citations)
    if footer:
        blocks.append(footer)
    return split_html_blocks(blocks, max_len)


def render_plain(answer: Answer, *, max_len: int = MAX_MESSAGE_LEN) -> list[str]:
    """The answer as plain text, for when Telegram rejects the HTML: markers as typed, URLs spelled out."""
    blocks = _paragraphs(answer.text)
    if answer.citations:
        lines = ["Sources:"]
        for c in _sorted_citations(answer.citations):
            parts = [c.source.strip()] if c.source.strip() else []
            if c.published is not None:
                parts.append(c.published.date().isoformat())
            parts.append(c.title.strip() or "untitled")
            line = f"{c.n}. " + " · ".join(parts)
            if c.url.strip():
                line += f" {c.url.strip()}"
            quote = c.quote.strip()
            if len(quote) > LONG_QUOTE:
                line += f"\n“{quote}”"
            lines.append(line)
        blocks.append("\n".join(lines))
    # Escaped text splits exactly as the plain text would (entities count 1, never cut): reuse the splitter.
    chunks = split_html_blocks([escape(b) for b in blocks], max_len, max_raw=1 << 30)
    return [html.unescape(chunk) for chunk in chunks]
