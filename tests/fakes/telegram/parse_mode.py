"""Telegram's HTML parse mode as tdlib parses it (with its error texts), and the entities Telegram finds in
incoming text by itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


from tests.fakes.telegram.spec import JSON

# --------------------------------------------------------------------------------------------------------------
# Telegram's HTML parse mode (after tdlib's parse_html, with its error texts).
# --------------------------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Text that Telegram would refuse with "Bad Request: can't parse entities: <message>"."""


_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "tg-emoji",
        "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}  # fmt: skip
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_html_entity(source: str, pos: int, strict: bool) -> tuple[str, int] | None:
    """The character an entity at ``source[pos] == "&"`` stands for and the index after it, or None."""
    end = pos + 1
    if source.startswith("&#", pos):
        end += 1
        hexadecimal = source[end : end + 1] in ("x", "X")
        end += hexadecimal
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(source) and source[end] in digits and end - start < 8:
            end += 1
        if end == start:
            return None
        code = int(source[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < len(source) and source[end].isascii() and source[end].isalpha():
            end += 1
        name = source[pos + 1 : end]
        if name not in _NAMED_HTML_ENTITIES:
            return None
        char = _NAMED_HTML_ENTITIES[name]
    if source[end : end + 1] == ";":
        return char, end + 1
    return None if strict else (char, end)


@dataclass
class _OpenTag:
    name: str
    argument: str
    start: int  # UTF-16 offset in the visible text
    expandable: bool = False
    language: str = ""


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into the visible text and its MessageEntity dicts (UTF-16 offsets).

    Args:
        source: The text as a bot would send it with ``parse_mode="HTML"``.
        strict: Reject an ``&`` that is not a complete supported entity; Telegram keeps it literally.

    Returns:
        The visible text and the entities, sorted by offset (outer entity first).

    Raises:
        HtmlParseError: With Telegram's own wording, e.g. "Unsupported start tag "div" at byte offset 0".
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSON] = []
    n = len(source)
    i = 0

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_html_entity(source, i, strict)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise HtmlParseError(f'Unescaped "&" at byte offset {_byte_offset(source, i)}: write it as &amp;')
        if char != "<":
            out.append(char)
            utf16 += utf16_len(char)
            i += 1
            continue
        begin = i
        offset = _byte_offset(source, begin)
        if source[i + 1 : i + 2] != "/":
            i += 1
            while i < n and not source[i].isspace() and source[i] != ">":
                i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
            tag = source[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
            opened = _OpenTag(tag, "", utf16)
            while True:
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
                if source[i] == ">":
                    break
                attribute_begin = i
                while i < n and not source[i].isspace() and source[i] not in "=>":
                    i += 1
                attribute = source[attribute_begin:i].lower()
                if not attribute:
                    raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
                while i < n and source[i].isspace():
                    i += 1
                if source[i : i + 1] != "=":
                    if tag == "blockquote" and attribute == "expandable":
                        opened.expandable = True
                        continue
                    raise HtmlParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {offset}'
                    )
                i += 1
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
                if source[i] not in "'\"":
                    token_begin = i
                    while i < n and ((source[i].isascii() and source[i].isalnum()) or source[i] in ".-"):
                        i += 1
                    value = source[token_begin:i].lower()
                    if i < n and not source[i].isspace() and source[i] != ">":
                        raise HtmlParseError(f"Unexpected end of name token at byte offset {_byte_offset(source, i)}")
                else:
                    quote = source[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and source[i] != quote:
                        if source[i] == "&":
                            decoded = _decode_html_entity(source, i, strict=False)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(source[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
                if (
                    (tag == "a" and attribute == "href")
                    or (tag == "tg-emoji" and attribute == "emoji-id")
                    or (tag == "tg-time" and attribute == "unix")
                ):
                    opened.argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    opened.argument = value[len("language-") :]
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    opened.argument = value[len("tg-") :]
            if tag == "span" and opened.argument != "spoiler":
                raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
            if tag == "tg-emoji" and not opened.argument:
                raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
            i += 1
            stack.append(opened)
            continue
        if not stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        i += 2
        while i < n and not source[i].isspace() and source[i] != ">":
            i += 1
        end_name = source[begin + 2 : i].lower()
        while i < n and source[i].isspace():
            i += 1
        if i >= n or source[i] != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{opened.name}>", found "</{end_name}>"'
            )
        if opened.name == "code" and opened.argument and stack and stack[-1].name == "pre":
            stack[-1].language = opened.argument  # <pre><code class="language-x"> is one pre entity
            continue
        length = utf16 - opened.start
        if length <= 0:
            continue
        entity: JSON = {"type": _ENTITY_TYPES[opened.name], "offset": opened.start, "length": length}
        if opened.name == "a":
            entity["url"] = opened.argument
        elif opened.name == "pre" and opened.language:
            entity["language"] = opened.language
        elif opened.name == "blockquote" and opened.expandable:
            entity["type"] = "expandable_blockquote"
        elif opened.name == "tg-emoji":
            entity["custom_emoji_id"] = opened.argument
        elif opened.name == "tg-time" and opened.argument.isdigit():
            entity["unix_time"] = int(opened.argument)
        entities.append(entity)
    if stack:
        raise HtmlParseError(f"Can't find end tag corresponding to start tag {stack[-1].name}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


# Telegram's automatic entities in incoming text (a subset: commands, mentions, hashtags, links).
_AUTO_ENTITIES = (
    ("bot_command", re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)'\]]")),
)


def auto_entities(text: str) -> list[JSON]:
    """The entities Telegram computes for an incoming plain text: bot_command, mention, hashtag and url."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _AUTO_ENTITIES:
        for match in pattern.finditer(text):
            if any(match.start() < end and start < match.end() for start, end, _ in found):
                continue
            found.append((match.start(), match.end(), kind))
    found.sort()
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in found
    ]
