"""Telegram's HTML: escaping, what a message shows and how long it counts, linking, and splitting into messages.

Telegram's rules, which everything here follows:

- Only a few tags exist (b, i, u, s, a href, code, pre, blockquote [expandable], ...); every other ``<``,
  ``>`` and ``&`` must be escaped, or the whole message is rejected with "Can't parse entities".
- A message holds at most 4096 characters *after entity parsing*: the visible text, tags removed and entities
  decoded, counted in UTF-16 code units (an emoji outside the BMP counts 2).
- A message must be valid on its own: a tag opened in one message cannot close in the next.

So text is rendered to blocks (paragraphs, a footer) of valid HTML, and ``split_html_blocks`` packs blocks into
messages, splitting only between blocks; a block too long for one message is cut at a line, then a sentence,
then a word boundary, with its open tags closed before the cut and reopened after it. Links (a citation
marker, a linked title) are never cut. Answers (``bot.telegram.render``), digests (``bot.digest.render``) and
alerts all render through here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "MAX_MESSAGE_LEN",
    "MAX_RAW_LEN",
    "escape",
    "link",
    "link_url",
    "split_html_blocks",
    "visible_length",
    "visible_text",
]

MAX_MESSAGE_LEN = 4096
# Links make the raw HTML longer than what Telegram counts; keep requests well-sized all the same.
MAX_RAW_LEN = 10000

MARKER = re.compile(r"\[(\d{1,4})\]")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")
_TOKEN = re.compile(rf"{_TAG.pattern}|{_ENTITY.pattern}|[\s\S]")
_SENTENCE_END = ".!?…"
_CLOSERS = "\"'”’»)]"


def escape(text: str) -> str:
    """Text for Telegram HTML: ``<``, ``>`` and ``&`` escaped, quotes left as they are."""
    return html.escape(text, quote=False)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_text(html_text: str) -> str:
    """What Telegram shows for ``html_text``: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", html_text))


def visible_length(html_text: str) -> int:
    """The length Telegram checks against its limit: visible text in UTF-16 code units."""
    return _utf16(visible_text(html_text))


def link_url(url: str) -> str | None:
    """``url`` when Telegram can link it (http or https with a host, no spaces or control characters), else None."""
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def link(url: str | None, text_html: str) -> str:
    """``text_html`` linked to ``url`` when Telegram can link it; the text alone otherwise."""
    href = link_url(url) if url else None
    if href is None:
        return text_html
    return f'<a href="{html.escape(href, quote=True)}">{text_html}</a>'


# --- splitting --------------------------------------------------------------------------------------------


@dataclass
class _Token:
    raw: str
    visible: int  # UTF-16 units
    kind: str  # "open", "close", "text" (one character or entity), "atom" (a whole link)
    space: bool = False  # a whitespace character
    newline: bool = False


def _tag_name(raw: str) -> str:
    m = _TAG.fullmatch(raw)
    return m[2].lower() if m else ""


def _tokens(block: str, max_len: int) -> list[_Token]:
    """Cut valid HTML into tags, characters and whole links (links short enough to keep whole)."""
    raw_tokens = [m[0] for m in _TOKEN.finditer(block)]
    tokens: list[_Token] = []
    i = 0
    while i < len(raw_tokens):
        raw = raw_tokens[i]
        tag = _TAG.fullmatch(raw)
        if tag and not tag[1] and tag[2].lower() == "a":
            # Gather the whole link; keep it as one token when it fits comfortably in a message.
            depth, j = 0, i
            while j < len(raw_tokens):
                inner = _TAG.fullmatch(raw_tokens[j])
                if inner and inner[2].lower() == "a":
                    depth += -1 if inner[1] else 1
                    if depth == 0:
                        break
                j += 1
            whole = "".join(raw_tokens[i : j + 1])
            visible = visible_length(whole)
            if visible <= max_len // 2:
                tokens.append(_Token(whole, visible, "atom"))
                i = j + 1
                continue
        if tag:
            tokens.append(_Token(raw, 0, "close" if tag[1] else "open"))
        else:
            text = html.unescape(raw)
            tokens.append(_Token(raw, _utf16(text), "text", text.isspace(), text == "\n"))
        i += 1
    return tokens


def _break_priority(tokens: list[_Token], k: int) -> int:
    """How good a cut after token ``k`` is: 3 at a line end, 2 at a sentence end, 1 at a space, 0 never."""
    token = tokens[k]
    if token.kind != "text" or not token.space:
        return 0
    if token.newline:
        return 3
    j = k - 1
    while j >= 0:
        prev = tokens[j]
        text = visible_text(prev.raw)
        if prev.kind == "close" or (prev.kind == "atom" and MARKER.fullmatch(text.strip())):
            j -= 1
            continue
        if prev.kind == "text" and text in _CLOSERS:
            j -= 1
            continue
        return 2 if prev.kind == "text" and text in _SENTENCE_END else 1
    return 1


def _closing(stack: Sequence[str]) -> str:
    return "".join(f"</{_tag_name(raw)}>" for raw in reversed(stack))


def _split_block(block: str, max_len: int, max_raw: int) -> list[str]:
    """Cut one block that is too long into pieces that each fit, closing and reopening tags at the cuts."""
    tokens = _tokens(block, max_len)
    n = len(tokens)
    # The tags open before each token.
    stacks: list[tuple[str, ...]] = []
    stack: tuple[str, ...] = ()
    for token in tokens:
        stacks.append(stack)
        if token.kind == "open":
            stack = (*stack, token.raw)
        elif token.kind == "close" and stack:
            stack = stack[:-1]
    stacks.append(stack)

    pieces: list[str] = []
    i = 0
    while i < n:
        while i < n and (tokens[i].kind == "close" or (tokens[i].kind == "text" and tokens[i].space)):
            i += 1  # a piece never starts with white space or with a tag the previous piece closed
        if i >= n:
            break
        prefix = "".join(stacks[i])
        visible = 0
        raw = len(prefix)
        last = i - 1
        for j in range(i, n):
            visible += tokens[j].visible
            raw += len(tokens[j].raw)
            if j > i and (visible > max_len or raw + len(_closing(stacks[j + 1])) > max_raw):
                break
            last = j
        cut = last
        if last < n - 1:
            middle = i + (last - i) // 2
            for lowest in (middle, i):
                best = max(range(lowest, last + 1), key=lambda k: (_break_priority(tokens, k), k))
                if _break_priority(tokens, best) > 0:
                    cut = best
                    break
        end = cut
        while end >= i and tokens[end].kind == "text" and tokens[end].space:
            end -= 1  # nor ends with it
        body = "".join(t.raw for t in tokens[i : end + 1])
        piece = prefix + body + _closing(stacks[end + 1])
        if visible_text(piece).strip():
            pieces.append(piece)
        i = cut + 1
    return pieces


def split_html_blocks(
    blocks: Sequence[str], max_len: int = MAX_MESSAGE_LEN, *, max_raw: int = MAX_RAW_LEN
) -> list[str]:
    """Pack blocks of valid Telegram HTML into messages, blocks separated by a blank line.

    Each message has at most ``max_len`` visible UTF-16 units and ``max_raw`` characters of HTML, and is valid
    on its own. Messages break between blocks; a block too long for a message of its own is cut at a line,
    sentence or word boundary (in that order of preference), never inside a tag, an entity or a link.
    """
    separator = "\n\n"
    messages: list[str] = []
    current: list[str] = []
    current_visible = current_raw = 0

    def flush() -> None:
        nonlocal current, current_visible, current_raw
        if current:
            messages.append(separator.join(current))
        current, current_visible, current_raw = [], 0, 0

    for block in blocks:
        block = block.strip()
        if not block:
            continue
        visible = visible_length(block)
        extra = len(separator) if current else 0
        if current_visible + extra + visible <= max_len and current_raw + extra + len(block) <= max_raw:
            current.append(block)
            current_visible += extra + visible
            current_raw += extra + len(block)
            continue
        flush()
        fits = visible <= max_len and len(block) <= max_raw
        pieces = [block] if fits else _split_block(block, max_len, max_raw)
        for piece in pieces[:-1]:
            messages.append(piece)
        if pieces:
            current = [pieces[-1]]
            current_visible, current_raw = visible_length(pieces[-1]), len(pieces[-1])
    flush()
    return messages
