"""Telegram HTML rendering: escaping, citation links, the sources footer and splitting within Telegram's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answering import Answer, Citation
from bot.html import escape, split_html_blocks, visible_length
from bot.telegram.render import render_answer, render_plain, render_sources_footer

ALLOWED = {"b", "i", "u", "s", "a", "code", "pre", "blockquote"}


class TelegramHTML(HTMLParser):
    """A strict reader of Telegram's HTML subset: allowed tags only, balanced, text as Telegram would show it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.errors.append(f"tag <{tag}> not allowed")
        if tag == "a":
            if "a" in self.stack:
                self.errors.append("nested link")
            if len(attrs) != 1 or attrs[0][0] != "href" or not re.match(r"https?://", attrs[0][1] or ""):
                self.errors.append(f"bad link attributes {attrs}")
        elif tag == "blockquote":
            if attrs not in ([], [("expandable", None)]):
                self.errors.append(f"bad blockquote attributes {attrs}")
        elif attrs:
            self.errors.append(f"attributes on <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> with {self.stack}")
            return
        self.stack.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(message: str) -> str:
    """The visible text of a message, after checking it is HTML that Telegram accepts."""
    outside_tags = re.sub(r"</?[a-z]+(?: [^<>]*)?>", "", message)
    assert "<" not in outside_tags and ">" not in outside_tags, message
    assert not re.search(r"&(?!lt;|gt;|amp;|quot;|#\d+;|#x[0-9a-fA-F]+;)", outside_tags), message
    parser = TelegramHTML()
    parser.feed(message)
    parser.close()
    assert not parser.errors, (parser.errors, message)
    assert not parser.stack, (parser.stack, message)
    return "".join(parser.text)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_messages(messages: list[str], max_len: int = 4096) -> list[str]:
    texts = []
    for message in messages:
        text = parse(message)
        assert utf16(text) <= max_len
        assert visible_length(message) == utf16(text)
        assert len(message) <= 10000
        assert text.strip()
        texts.append(text)
    return texts


def cite(n: int, **kw: object) -> Citation:
    values: dict[str, object] = {
        "n": n,
        "article_id": f"a{n}",
        "title": f"Title {n}",
        "url": f"https://news.example/{n}",
        "source": "Reuters",
        "published": datetime(2024, 3, 5, 14, tzinfo=UTC),
        "quote": "",
    }
    values.update(kw)
    return Citation(**values)  # type: ignore[arg-type]


def test_escape() -> None:
    assert escape('a < b & c > "d"') == 'a &lt; b &amp; c &gt; "d"'


def test_title_text_and_url_are_escaped() -> None:
    citation = cite(1, title="AT&T <b>", url='https://ex.com/?a=1&b="2"', source="Ben & Jerry's <News>")
    answer = Answer("q", "Prices <rose> & fell [1].", [citation])
    [message] = render_answer(answer)
    assert "Prices &lt;rose&gt; &amp; fell " in message
    assert '<a href="https://ex.com/?a=1&amp;b=&quot;2&quot;">[1]</a>' in message
    assert "Ben &amp; Jerry's &lt;News&gt;" in message
    assert ">AT&amp;T &lt;b&gt;</a>" in message
    text = check_messages([message])[0]
    assert "AT&T <b>" in text and "Prices <rose> & fell [1]." in text


def test_markers_link_only_existing_web_citations() -> None:
    citations = [cite(1), cite(2, url="file:///home/me/article.txt"), cite(4, url="")]
    answer = Answer("q", "One [1]. Two [2]. Three [3]. Four [4]. Again [1].", citations)
    [message] = render_answer(answer)
    assert message.count('<a href="https://news.example/1">[1]</a>') == 2
    assert "Two [2]." in message and "Three [3]." in message and "Four [4]." in message
    assert "file://" not in message
    check_messages([message])


def test_footer_format() -> None:
    footer = render_sources_footer([cite(2, published=None), cite(1, source="AP")])
    assert footer.splitlines() == [
        "<b>Sources</b>",
        '1. AP · 2024-03-05 · <a href="https://news.example/1">Title 1</a>',
        '2. Reuters · <a href="https://news.example/2">Title 2</a>',
    ]
    assert render_sources_footer([]) == ""


def test_long_quotes_go_in_expandable_blockquotes() -> None:
    long_quote = "He said <this> & that. " * 12
    answer = Answer("q", "Short [1]. Long [2].", [cite(1, quote="a short quote"), cite(2, quote=long_quote)])
    [message] = render_answer(answer)
    assert message.count("<blockquote expandable>") == 1
    assert "<blockquote expandable>He said &lt;this&gt; &amp; that." in message
    assert "a short quote" not in message
    check_messages([message])


def test_abstained_answer_is_its_text_alone() -> None:
    answer = Answer("q", "The archive has nothing on <that> (120 articles, newest 2024-03-05).", abstained=True)
    assert render_answer(answer) == ["The archive has nothing on &lt;that&gt; (120 articles, newest 2024-03-05)."]
    assert render_plain(answer) == [answer.text]


def test_related_coverage_renders_its_cited_items() -> None:
    item = Citation(
        1, "a1", "Cup final preview", "https://news.example/cup", "Sports Desk", datetime(2026, 3, 18, tzinfo=UTC)
    )
    answer = Answer(
        "q",
        "Nothing in the archive answers that directly; the closest coverage is: “Cup final preview” [1].",
        [item],
        abstained=True,
        related=True,
    )
    (message,) = render_answer(answer)
    assert '<a href="https://news.example/cup">[1]</a>' in message
    assert "<b>Sources</b>\n1. Sports Desk · 2026-03-18 · " in message
    assert "Sources:" in render_plain(answer)[0]


def test_plain_fallback() -> None:
    answer = Answer("q", "Prices <rose> [1].\n\nMore [2].", [cite(1, title="AT&T"), cite(2, url="file:///x")])
    [message] = render_plain(answer)
    assert message == (
        "Prices <rose> [1].\n\nMore [2].\n\nSources:\n"
        "1. Reuters · 2024-03-05 · AT&T https://news.example/1\n"
        "2. Reuters · 2024-03-05 · Title 2 file:///x"
    )


def test_long_answer_splits_at_paragraphs() -> None:
    citations = [cite(n, quote="x" * 300 if n % 5 == 0 else "") for n in range(1, 41)]
    paragraphs = [
        " ".join(f"Paragraph {p} sentence {s} says <something> & more [{(p + s) % 45 + 1}]." for s in range(8))
        for p in range(30)
    ]
    answer = Answer("q", "\n\n".join(paragraphs), citations)
    messages = render_answer(answer)
    assert len(messages) > 2
    texts = check_messages(messages)
    shown = "\n\n".join(texts)
    for p in range(30):
        # paragraphs are whole: each sits in exactly one message
        assert sum(f"Paragraph {p} sentence 0 " in t and f"Paragraph {p} sentence 7 " in t for t in texts) == 1
    assert shown.count("Title ") == 40
    assert "Sources" in texts[-1]


def test_a_long_footer_splits_between_source_lines() -> None:
    citations = [cite(n, title=f"Headline number {n} about <things> & more") for n in range(1, 121)]
    messages = render_answer(Answer("q", "Answer [1].", citations))
    texts = check_messages(messages)
    assert len(messages) >= 2
    for n in range(1, 121):
        line = f"{n}. Reuters · 2024-03-05 · Headline number {n} about <things> & more"
        assert sum(line in text.splitlines() for text in texts) == 1


def test_a_huge_paragraph_is_split_at_sentences() -> None:
    sentence = "The minister said the talks <would> continue & end soon [1]. "
    paragraph = (sentence * (10_000 // len(sentence) + 1)).strip()
    assert len(paragraph) > 10_000
    messages = render_answer(Answer("q", paragraph, [cite(1)]))
    assert len(messages) >= 3
    texts = check_messages(messages)
    for text in texts[:-1]:
        assert text.endswith("[1].")
    assert " ".join(texts).split() == (paragraph + "\n\nSources\n1. Reuters · 2024-03-05 · Title 1").split()


def test_split_closes_and_reopens_tags() -> None:
    block = "<b>" + " ".join(f"word{i}" for i in range(300)) + "</b> <i>tail</i>"
    messages = split_html_blocks([block], 500)
    texts = check_messages(messages, 500)
    assert all(m.startswith("<b>") for m in messages[:-1])
    assert " ".join(texts).split() == [f"word{i}" for i in range(300)] + ["tail"]


def test_a_single_word_longer_than_a_message_is_cut() -> None:
    messages = split_html_blocks([escape("&" * 120)], 50)
    texts = check_messages(messages, 50)
    assert "".join(texts) == "&" * 120


def test_astral_characters_count_two() -> None:
    assert visible_length("😀") == 2
    assert visible_length("<b>a&amp;😀</b>") == 4
    messages = render_answer(Answer("q", " ".join(["😀😀"] * 3000)))
    texts = check_messages(messages)
    # 15,000 UTF-16 units: 4 messages (3 if emoji were counted as one character)
    assert len(messages) == 4
    assert all(utf16(t) > 4000 for t in texts[:-1])
    assert sum(t.count("😀") for t in texts) == 6000


def test_messages_respect_raw_length() -> None:
    long_url = "https://news.example/" + "x" * 400
    answer = Answer("q", " ".join(["Claim [1]."] * 400), [cite(1, url=long_url)])
    messages = render_answer(answer)
    assert len(messages) > 1
    check_messages(messages)


def test_empty_answer_gives_no_messages() -> None:
    assert render_answer(Answer("q", "  \n\n ")) == []


words = st.text(alphabet="ab<&>\"'😀é[]1", min_size=1, max_size=12).filter(lambda w: w.strip() == w)
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". "])


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.tuples(words, separators), min_size=1, max_size=120),
    max_len=st.integers(min_value=40, max_value=400),
)
def test_any_text_renders_to_valid_messages(parts: list[tuple[str, str]], max_len: int) -> None:
    text = "".join(w + s for w, s in parts)
    answer = Answer("q", text, [cite(1)])
    messages = render_answer(answer, max_len=max_len)
    texts = check_messages(messages, max_len)
    shown = " ".join(texts).split()
    footer_words = ["Sources", "1.", "Reuters", "·", "2024-03-05", "·", "Title", "1"]
    assert shown == text.split() + footer_words
    plain = render_plain(answer, max_len=max_len)
    assert all(utf16(m) <= max_len for m in plain)
    assert " ".join(plain).split()[: len(text.split())] == text.split()


@pytest.mark.parametrize("max_len", [64, 4096])
def test_split_keeps_valid_blocks_whole_when_they_fit(max_len: int) -> None:
    blocks = ["<b>Top story</b>", '<a href="https://x.example/?a=1&amp;b=2">A &amp; B</a>', "plain"]
    messages = split_html_blocks(blocks, max_len)
    assert "\n\n".join(messages).count("\n\n") >= 2
    assert check_messages(messages, max_len)


def wrapped(draw: st.DrawFn, depth: int = 0) -> str:
    """Random valid HTML: escaped words, some in b/i/code/links, nested a few levels."""
    parts = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["word", "word", "word", "b", "i", "code", "a"] if depth < 2 else ["word"]))
        if kind == "word":
            parts.append(escape(draw(words)))
        elif kind == "a":
            parts.append(f'<a href="https://x.example/?q=1&amp;r=2">{escape(draw(words))}</a>')
        else:
            parts.append(f"<{kind}>{wrapped(draw, depth + 1)}</{kind}>")
    return " ".join(parts)


@st.composite
def html_blocks(draw: st.DrawFn) -> list[str]:
    return [wrapped(draw) for _ in range(draw(st.integers(1, 6)))]


@settings(max_examples=100, deadline=None)
@given(blocks=html_blocks(), max_len=st.integers(min_value=30, max_value=200))
def test_any_valid_blocks_split_into_valid_messages(blocks: list[str], max_len: int) -> None:
    messages = split_html_blocks(blocks, max_len)
    texts = check_messages(messages, max_len)
    assert " ".join(texts).split() == " ".join(parse(b) for b in blocks).split()
