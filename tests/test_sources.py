"""Sources: files, folders, JSON records, web pages and URLs, and every kind of bad input beside good ones."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.article import ArticleRecord
from index.errors import SourceError
from index.extract import extract_html, html_fragment_to_text, parse_published
from index.fetch import Fetcher, decode_bytes
from index.settings import IndexSettings
from index.sources import read_sources
from index.urls import canonical_url, check_public_url, outlet_name
from tests.fakes.web import WebServer, unused_port, web_server

__all__ = ["web_server"]

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE_HTML = (FIXTURES / "article.html").read_text(encoding="utf-8")

GOOD_TEXT = (
    "Tide gauges installed along the quay\n\n"
    "The port authority installed six new tide gauges along the quay this week. The gauges report the water "
    "level every minute and will feed the flood warning service that starts in the autumn.\n"
)


@pytest.fixture
def settings() -> IndexSettings:
    return IndexSettings(fetch_timeout=0.5, max_redirects=3, max_page_bytes=200_000, max_file_bytes=100_000)


@pytest.fixture
def fetcher(settings: IndexSettings) -> Iterator[Fetcher]:
    with Fetcher(settings) as f:
        yield f


def read(
    sources: list[str], settings: IndexSettings, fetcher: Fetcher | None = None
) -> list[ArticleRecord | SourceError]:
    return list(read_sources(sources, settings, fetcher=fetcher))


def articles(items: list[ArticleRecord | SourceError]) -> list[ArticleRecord]:
    return [i for i in items if isinstance(i, ArticleRecord)]


def errors(items: list[ArticleRecord | SourceError]) -> list[SourceError]:
    return [i for i in items if isinstance(i, SourceError)]


def only_error(items: list[ArticleRecord | SourceError], source: str) -> SourceError:
    """The one error among items, naming ``source``; the good items beside it must have come out."""
    errs = errors(items)
    assert len(errs) == 1, errs
    assert errs[0].source.startswith(source) or source in errs[0].source, errs[0]
    assert source in str(errs[0])
    return errs[0]


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.txt"
    path.write_text(GOOD_TEXT, encoding="utf-8")
    return path


# --- canonical URLs and outlets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://WWW.Example.COM:443/News/Story?utm_source=x&b=2&a=1#comments",
            "https://www.example.com/News/Story?a=1&b=2",
        ),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://e.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6&igshid=7", "https://e.com/a"),
        ("https://e.com/a?ref_src=twsrc&_ga=1.2&yclid=9&UTM_Medium=m&id=42", "https://e.com/a?id=42"),
        ("https://e.com/search?q=a+b&page=2", "https://e.com/search?page=2&q=a+b"),
        ("https://www.theweek.co.uk/news/957717/x?amp=", "https://www.theweek.co.uk/news/957717/x?amp="),
        ("https://e.com/a?&&x=1&", "https://e.com/a?x=1"),
        ("file:///tmp/a.txt#frag", "file:///tmp/a.txt"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_prefers_rel_canonical_resolved_against_the_page() -> None:
    page = "https://www.example.com/amp/story-1?utm_campaign=x"
    assert canonical_url(page, "/news/story-1/") == "https://www.example.com/news/story-1/"
    assert canonical_url(page, "https://Example.com/s?utm_source=a#x") == "https://example.com/s"
    assert canonical_url(page, "javascript:void(0)") == "https://www.example.com/amp/story-1"
    assert canonical_url(page, "") == "https://www.example.com/amp/story-1"


_hosts = st.from_regex(r"[A-Za-z0-9]{1,10}(\.[A-Za-z0-9]{1,10}){0,3}", fullmatch=True)
_segments = st.text(alphabet="abcXYZ019-._~%/:@!$'()*+,;=", max_size=30)
_keys = st.sampled_from(["utm_source", "UTM_campaign", "fbclid", "gclid", "id", "q", "page", "a", "b", "", "x y"])
_values = st.text(alphabet="abc123 %+=&/?#é", max_size=8)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "HtTpS"]),
    host=_hosts,
    port=st.one_of(st.none(), st.sampled_from([80, 443, 8080])),
    path=_segments,
    params=st.lists(st.tuples(_keys, _values), max_size=5),
    fragment=st.text(max_size=10),
    canonical=st.one_of(st.none(), _segments, st.just("https://Other.example/x?utm_source=1")),
)
def test_canonical_url_is_idempotent(
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    params: list[tuple[str, str]],
    fragment: str,
    canonical: str | None,
) -> None:
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"{scheme}://{host}{f':{port}' if port else ''}/{path}?{query}#{fragment}"
    once = canonical_url(url, canonical)
    assert canonical_url(once) == once
    assert canonical_url(once, canonical) == once or canonical is not None
    assert "utm_" not in once.lower().split("?", 1)[-1] or "utm_" in path.lower()
    assert "#" not in once


@given(st.text(max_size=60))
def test_canonical_url_never_raises(text: str) -> None:
    once = canonical_url(text)
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("url", "outlet"),
    [
        ("https://www.usatoday.com/story/news/x", "usatoday.com"),
        ("https://edition.cnn.com/2024/01/01/x", "cnn.com"),
        ("https://www.theweek.co.uk/news/x", "theweek.co.uk"),
        ("https://news.bbc.co.uk/x", "bbc.co.uk"),
        ("https://someone.substack.com/p/x", "someone.substack.com"),
        ("http://127.0.0.1:8000/x", "127.0.0.1"),
        ("file:///tmp/x.txt", ""),
    ],
)
def test_outlet_name(url: str, outlet: str) -> None:
    assert outlet_name(url) == outlet


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://240.0.0.1/",
        "ftp://8.8.8.8/",
        "http://no-such-host.invalid/",
    ],
)
def test_private_and_odd_addresses_are_refused(url: str) -> None:
    with pytest.raises(SourceError) as info:
        check_public_url(url)
    assert info.value.source == url


def test_public_ip_literal_is_allowed() -> None:
    check_public_url("https://8.8.8.8/dns")
    check_public_url("http://1.1.1.1/")


# --- local files -------------------------------------------------------------------------------------------------


def test_text_file_title_headers_and_paragraphs(tmp_path: Path, settings: IndexSettings) -> None:
    path = tmp_path / "story.md"
    path.write_text(
        "# Ferry fares frozen for 2025\nDate: 2024-11-02T09:15:00+01:00\nSource: Harbour Gazette\n"
        "Author: Tomas Lindqvist\n\nThe ferry company froze its fares for next year.\n\n"
        "Season tickets keep their price as well.\n",
        encoding="utf-8",
    )
    (record,) = read([str(path)], settings)
    assert isinstance(record, ArticleRecord)
    assert record.title == "Ferry fares frozen for 2025"
    assert record.text == "The ferry company froze its fares for next year.\n\nSeason tickets keep their price as well."
    assert record.published == datetime(2024, 11, 2, 8, 15, tzinfo=UTC)
    assert record.source == "Harbour Gazette"
    assert record.author == "Tomas Lindqvist"
    assert record.url == path.resolve().as_uri()


def test_text_file_without_blank_lines_has_a_paragraph_per_line(tmp_path: Path, settings: IndexSettings) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("Title here\nFirst paragraph.\nSecond paragraph.\n", encoding="utf-8")
    (record,) = read([str(path)], settings)
    assert isinstance(record, ArticleRecord)
    assert record.text == "First paragraph.\n\nSecond paragraph."
    assert record.published is None
    assert record.source == "local file"


def test_latin1_text_is_detected_and_decoded(settings: IndexSettings) -> None:
    (record,) = read([str(FIXTURES / "latin1.txt")], settings)
    assert isinstance(record, ArticleRecord)
    assert record.title == "Fête de la mer draws record crowds to the old quay"
    assert "Crêpe stands" in record.text and "Hélène" in record.text and "café" in record.text
    assert record.published == datetime(2024, 7, 14, tzinfo=UTC)
    assert record.source == "Harbour Gazette"


def test_html_file_main_text_without_nav_ads_or_comments(settings: IndexSettings) -> None:
    (record,) = read([str(FIXTURES / "article.html")], settings)
    assert isinstance(record, ArticleRecord)
    assert record.title == "Harbour Council Approves Flood Barrier After Year of Delays"
    assert record.text.startswith("The Harbour District council voted 7 to 2")
    assert "Tonight we chose to protect the homes of four thousand people." in record.text
    assert record.text.count("\n\n") >= 4
    for noise in ("Subscribe", "Advertisement", "Refinance", "basement flooded", "Privacy policy", "Related stories"):
        assert noise not in record.text
    assert record.published == datetime(2024, 5, 14, 11, 30, tzinfo=UTC)
    assert record.author == "Maria Okafor"
    assert record.source == "The Coastal Ledger"
    # The relative rel=canonical cannot resolve against a file: the absolute og:url names the web page.
    assert record.url == "https://www.coastalledger.example/news/2024/05/14/harbour-flood-barrier-approved/"
    assert record.alt_urls == ((FIXTURES / "article.html").resolve().as_uri(),)


def test_extract_html_uses_the_canonical_link() -> None:
    record = extract_html(ARTICLE_HTML, "https://www.coastalledger.example/amp/flood?utm_source=tw#top")
    assert record.url == "https://www.coastalledger.example/news/2024/05/14/harbour-flood-barrier-approved/"
    assert record.alt_urls == ("https://www.coastalledger.example/amp/flood",)


def test_extract_html_outlet_falls_back_to_the_domain() -> None:
    body = "".join(f"<p>{GOOD_TEXT} Paragraph {i}.</p>" for i in range(3))
    html = f"<html><head><title>Quay gauges</title></head><body><article>{body}</article></body></html>"
    record = extract_html(html, "https://www.usatoday.com/story/x")
    assert record.source == "usatoday.com"
    assert record.published is None


def test_folder_is_read_recursively_in_sorted_order(tmp_path: Path, settings: IndexSettings) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("Second\n\nBody two.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("First\n\nBody one.", encoding="utf-8")
    (tmp_path / "c.md").write_text("# Third\n\nBody three.", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("Hidden\n\nNo.", encoding="utf-8")
    items = read([str(tmp_path)], settings)
    assert [i.title for i in articles(items)] == ["First", "Second", "Third"]
    assert errors(items) == []


def test_json_object_array_and_jsonl(tmp_path: Path, settings: IndexSettings) -> None:
    record = {
        "url": "https://www.example.com/a?utm_source=x",
        "title": "A",
        "text": "Alpha text.",
        "published": "2024-03-01",
        "source": "example.com",
        "id": "ignored",
        "week": "20240329",
    }
    (tmp_path / "one.json").write_text(json.dumps(record), encoding="utf-8")
    (tmp_path / "many.json").write_text(json.dumps([record, {**record, "url": "https://e.com/b"}]), encoding="utf-8")
    lines = [json.dumps({**record, "url": f"https://e.com/{i}", "source": None}) for i in range(3)]
    (tmp_path / "recs.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    items = read([str(tmp_path / n) for n in ("one.json", "many.json", "recs.jsonl")], settings)
    assert errors(items) == []
    got = articles(items)
    assert len(got) == 6
    assert got[0].url == "https://www.example.com/a"
    assert got[0].alt_urls == ("https://www.example.com/a?utm_source=x",)
    assert got[0].published == datetime(2024, 3, 1, tzinfo=UTC)
    assert got[-1].source == "e.com"
    assert got[-1].origin.endswith("recs.jsonl:3")


def test_bad_jsonl_records_name_file_and_line_and_the_rest_goes_in(tmp_path: Path, settings: IndexSettings) -> None:
    path = tmp_path / "recs.jsonl.gz"
    good = {"url": "https://e.com/{}", "title": "T", "text": "Some text.", "published": "2024-01-02"}
    rows = [
        json.dumps({**good, "url": "https://e.com/1"}),
        '{"url": "https://e.com/2", "text": ',
        json.dumps({"url": "https://e.com/3", "title": "no text"}),
        json.dumps({"title": "no url", "text": "x"}),
        "[1, 2]",
        json.dumps({**good, "url": "https://e.com/6", "published": "not a date"}),
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    items = read([str(path)], settings)
    assert [a.url for a in articles(items)] == ["https://e.com/1", "https://e.com/6"]
    assert articles(items)[1].published is None
    assert [(e.source, e.reason.split(" (")[0]) for e in errors(items)] == [
        (f"{path}:2", "invalid JSON"),
        (f"{path}:3", "record has no text"),
        (f"{path}:4", "record has no url"),
        (f"{path}:5", "not a JSON object"),
    ]


def test_rtqa_articles_first_50(shared_data: Path) -> None:
    path = shared_data / "rtqa-2024" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip("rtqa-2024 articles are absent")
    settings = IndexSettings(max_file_bytes=500_000_000)
    items = list(itertools.islice(read_sources([str(path)], settings), 50))
    assert len(items) == 50
    got = articles(items)
    assert len(got) == 50
    first = got[0]
    assert first.url.startswith("https://www.cnn.com/")
    assert first.source == "cnn.com"
    assert first.published is not None and first.published.tzinfo is UTC
    assert len(first.text) > 500 and "\n\n" in first.text
    assert all(a.title and a.text and a.url.startswith("https://") for a in got)


# --- bad files: one clear error each, the good file beside it still comes out ----------------------------------


def _with_good(bad: Path, good: Path, settings: IndexSettings) -> SourceError:
    items = read([str(bad), str(good)], settings)
    assert [a.title for a in articles(items)] == ["Tide gauges installed along the quay"]
    return only_error(items, str(bad))


def test_missing_path(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    err = _with_good(tmp_path / "nope.txt", good_file, settings)
    assert err.reason == "no such file or folder"


def test_binary_file(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "photo.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 20)
    err = _with_good(bad, good_file, settings)
    assert "not a text file" in err.reason


def test_binary_file_with_unknown_extension(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "blob.bin"
    bad.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in _with_good(bad, good_file, settings).reason


def test_empty_file(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "empty.txt"
    bad.write_text("  \n\n", encoding="utf-8")
    assert _with_good(bad, good_file, settings).reason == "empty file"


@pytest.mark.parametrize("name", ["empty.html", "empty.json", "empty.jsonl", "empty.xml"])
def test_empty_files_of_every_kind(tmp_path: Path, good_file: Path, settings: IndexSettings, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(b"")
    assert _with_good(bad, good_file, settings).reason == "empty file"


def test_title_without_text(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "title-only.txt"
    bad.write_text("Just a headline\n", encoding="utf-8")
    assert "no article text" in _with_good(bad, good_file, settings).reason


def test_html_without_article_body(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "shell.html"
    bad.write_text(
        "<html><head><title>App</title><script>start()</script></head><body><nav><a href='/'>Home</a>"
        "<a href='/news'>News</a></nav><div id='app'></div></body></html>",
        encoding="utf-8",
    )
    assert _with_good(bad, good_file, settings).reason == "no article text found"


def test_oversized_file_is_refused_before_reading(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "big.txt"
    bad.write_text("Big\n\n" + "word " * 30_000, encoding="utf-8")
    assert "max_file_bytes" in _with_good(bad, good_file, settings).reason


def test_oversized_gzip_is_measured_uncompressed(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "big.jsonl.gz"
    row = json.dumps({"url": "https://e.com/x", "title": "T", "text": "word " * 1000}) + "\n"
    with gzip.open(bad, "wt", encoding="utf-8") as f:
        f.write(row * 40)  # 200 kB of JSON, a few kB compressed
    assert bad.stat().st_size < settings.max_file_bytes
    err = _with_good(bad, good_file, settings)
    assert "uncompressed" in err.reason and "max_file_bytes" in err.reason


def test_corrupt_gzip(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "broken.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"url": "https://e.com/1", "text": "x"}\n' * 50)[:60])
    items = read([str(bad), str(good_file)], settings)
    # The records before the break still go in; the break itself is one error.
    assert articles(items)[-1].title == "Tide gauges installed along the quay"
    assert "corrupt gzip" in only_error(items, str(bad)).reason


def test_invalid_json_document(tmp_path: Path, good_file: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"url": "https://e.com/1",\n "text": }', encoding="utf-8")
    items = read([str(bad), str(good_file)], settings)
    err = only_error(items, str(bad))
    assert err.source == f"{bad}:2" and "invalid JSON" in err.reason


def test_decode_bytes() -> None:
    assert decode_bytes("naïve".encode()) == "naïve"
    assert decode_bytes("\ufeffbom".encode()) == "bom"
    assert decode_bytes("ünïcode".encode("utf-16")) == "ünïcode"
    assert decode_bytes("Grüße aus Köln".encode("latin-1"), "iso-8859-1") == "Grüße aus Köln"
    assert decode_bytes(b'<meta charset="windows-1252"><p>caf\xe9</p>') == '<meta charset="windows-1252"><p>café</p>'


def test_parse_published() -> None:
    assert parse_published("2024-05-14") == datetime(2024, 5, 14, tzinfo=UTC)
    assert parse_published("2024-05-14T07:30:00-04:00") == datetime(2024, 5, 14, 11, 30, tzinfo=UTC)
    assert parse_published("2024-05-14T07:30:00Z") == datetime(2024, 5, 14, 7, 30, tzinfo=UTC)
    assert parse_published("Tue, 14 May 2024 11:30:00 GMT") == datetime(2024, 5, 14, 11, 30, tzinfo=UTC)
    assert parse_published("yesterday") is None
    assert parse_published(None) is None


def test_html_fragment_to_text() -> None:
    html = "<p>One &amp; two.</p><script>x()</script><p>Three<br>four</p><ul><li>a</li><li>b</li></ul>"
    assert html_fragment_to_text(html) == "One & two.\n\nThree\n\nfour\n\na\n\nb"


# --- URLs ----------------------------------------------------------------------------------------------------------


def test_web_page_by_url(web_server: WebServer, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = web_server.add("/amp/flood?utm_source=tg", ARTICLE_HTML)
    (record,) = read([url], settings, fetcher)
    assert isinstance(record, ArticleRecord)
    assert record.url == web_server.url("/news/2024/05/14/harbour-flood-barrier-approved/")
    assert web_server.url("/amp/flood") in record.alt_urls
    assert record.title == "Harbour Council Approves Flood Barrier After Year of Delays"
    assert record.origin == url
    request = web_server.requests_to("/amp/flood")[0]
    assert request.headers["User-Agent"] == settings.user_agent


def test_web_page_in_latin1_declared_by_header(
    web_server: WebServer, settings: IndexSettings, fetcher: Fetcher
) -> None:
    body = "".join(f"<p>Le café du port ouvre à sept heures, paragraphe {i}. {GOOD_TEXT}</p>" for i in range(3))
    url = web_server.add(
        "/fr",
        f"<html><body><article>{body}</article></body></html>".encode("latin-1"),
        content_type="text/html; charset=ISO-8859-1",
    )
    (record,) = read([url], settings, fetcher)
    assert isinstance(record, ArticleRecord)
    assert "Le café du port ouvre à sept heures" in record.text


def test_redirect_is_followed(web_server: WebServer, settings: IndexSettings, fetcher: Fetcher) -> None:
    web_server.add("/final", ARTICLE_HTML)
    result = fetcher.fetch(web_server.redirect("/start", "/final", status=301))
    assert result.url == web_server.url("/final")
    assert result.status == 200 and b"Flood Barrier" in result.content


def test_fetch_sends_conditional_headers_and_reports_304(web_server: WebServer, fetcher: Fetcher) -> None:
    url = web_server.add("/page", ARTICLE_HTML, etag='"v1"', last_modified="Tue, 14 May 2024 11:30:00 GMT")
    first = fetcher.fetch(url)
    assert first.etag == '"v1"' and first.last_modified == "Tue, 14 May 2024 11:30:00 GMT"
    second = fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.content == b""
    sent = web_server.requests_to("/page")[-1].headers
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Tue, 14 May 2024 11:30:00 GMT"


def test_fetcher_with_mock_transport(settings: IndexSettings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=ARTICLE_HTML.encode())

    with Fetcher(settings, transport=httpx.MockTransport(handler)) as f:
        items = read(["https://www.coastalledger.example/flood"], settings, f)
    (record,) = items
    assert isinstance(record, ArticleRecord)
    assert record.url == "https://www.coastalledger.example/news/2024/05/14/harbour-flood-barrier-approved/"


def test_public_only_fetcher_refuses_loopback(web_server: WebServer, settings: IndexSettings) -> None:
    url = web_server.add("/x", ARTICLE_HTML)
    with Fetcher(settings, public_only=True) as f, pytest.raises(SourceError, match="private or local"):
        f.fetch(url)
    with Fetcher(settings.model_copy(update={"allow_private_urls": True}), public_only=True) as f:
        assert f.fetch(url).status == 200


def _url_error(url: str, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> SourceError:
    items = read([url, good_url], settings, fetcher)
    assert len(articles(items)) == 1
    return only_error(items, url)


@pytest.fixture
def good_url(web_server: WebServer) -> str:
    return web_server.add("/good", ARTICLE_HTML)


def test_http_404(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = web_server.url("/missing")
    assert _url_error(url, good_url, settings, fetcher).reason == "HTTP 404 Not Found"


def test_http_500(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = web_server.add("/boom", "<h1>oops</h1>", status=500)
    assert _url_error(url, good_url, settings, fetcher).reason == "HTTP 500 Internal Server Error"


def test_timeout(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = web_server.slow("/slow", ARTICLE_HTML, delay=1.5)
    assert _url_error(url, good_url, settings, fetcher).reason == "timed out after 0.5s"


def test_redirect_loop(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    web_server.redirect("/a", "/b")
    url = web_server.redirect("/b", "/a")
    assert _url_error(url, good_url, settings, fetcher).reason == "redirect loop"


def test_too_many_redirects(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    for i in range(6):
        web_server.redirect(f"/r{i}", f"/r{i + 1}")
    web_server.add("/r6", ARTICLE_HTML)
    reason = _url_error(web_server.url("/r0"), good_url, settings, fetcher).reason
    assert reason == "too many redirects (more than 3)"


def test_connection_refused(good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = f"http://127.0.0.1:{unused_port()}/story"
    assert _url_error(url, good_url, settings, fetcher).reason == "connection refused"


def test_connection_dropped(web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher) -> None:
    url = web_server.drop("/drop")
    assert "closed the connection" in _url_error(url, good_url, settings, fetcher).reason


@pytest.mark.parametrize("declare_length", [True, False])
def test_body_over_max_page_bytes(
    web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher, declare_length: bool
) -> None:
    url = web_server.huge("/huge", size=5_000_000, declare_length=declare_length)
    assert "max_page_bytes" in _url_error(url, good_url, settings, fetcher).reason


def test_unsupported_content_type(
    web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher
) -> None:
    url = web_server.add("/report.pdf", b"%PDF-1.7 ...", content_type="application/pdf")
    assert _url_error(url, good_url, settings, fetcher).reason == "unsupported content type application/pdf"


def test_html_page_without_article(
    web_server: WebServer, good_url: str, settings: IndexSettings, fetcher: Fetcher
) -> None:
    url = web_server.add("/app", "<html><body><div id='app'></div><script>boot()</script></body></html>")
    assert _url_error(url, good_url, settings, fetcher).reason == "no article text found"


def test_unsupported_scheme(good_file: Path, settings: IndexSettings) -> None:
    items = read(["ftp://example.com/story.txt", str(good_file)], settings)
    assert "unsupported URL scheme" in only_error(items, "ftp://example.com/story.txt").reason


# --- the fake web server itself ------------------------------------------------------------------------------------


def test_fake_server_logs_requests_and_answers_conditional_get(web_server: WebServer) -> None:
    url = web_server.add("/feed", b"<rss/>", content_type="application/rss+xml", etag='"abc"')
    with httpx.Client() as client:
        assert client.get(url).status_code == 200
        assert client.get(url, headers={"If-None-Match": '"abc"'}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"old"'}).status_code == 200
        assert client.get(web_server.url("/nothing")).status_code == 404
    assert [r.headers.get("If-None-Match") for r in web_server.requests_to("/feed")] == [None, '"abc"', '"old"']
