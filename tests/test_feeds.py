"""Feeds: full content or the linked page, bad feeds, OPML, and registered feeds polled with conditional GET."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from index.article import ArticleRecord, Checkpoint
from index.errors import SourceError
from index.feed_registry import FEEDS_SCHEMA, FeedRegistry, import_opml, poll
from index.feeds import looks_like_feed, read_feed, read_opml
from index.fetch import Fetcher
from index.settings import IndexSettings
from index.sources import read_sources
from tests.fakes.web import WebServer, unused_port, web_server

__all__ = ["web_server"]

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE_HTML = (FIXTURES / "article.html").read_text(encoding="utf-8")
SEABIRD_HTML = """<!DOCTYPE html><html><head><title>New seabird colony found on outer skerry</title>
<meta property="og:site_name" content="Northern Science Desk"></head><body><nav><a href="/">Home</a></nav>
<article><h1>New seabird colony found on outer skerry</h1>
<p>Ornithologists counted more than 300 nesting pairs of razorbills on Ytre Flesa, a bare skerry twelve kilometres
off the coast, during a survey in late May. The colony had not been recorded before.</p>
<p>The birds probably moved from the cliffs of Hornøy, where foxes reached the nesting ledges two winters ago, said
the survey leader, Kari Nygaard. The county will ask for landing on the skerry to be banned from April to August.</p>
</article><footer>Contact the science desk</footer></body></html>"""


def fixture_text(name: str, server: WebServer) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("{base}", server.url("").rstrip("/"))


@pytest.fixture
def settings() -> IndexSettings:
    return IndexSettings(fetch_timeout=0.5, max_redirects=3, feed_max_failures=3, max_page_bytes=500_000)


@pytest.fixture
def fetcher(settings: IndexSettings) -> Iterator[Fetcher]:
    with Fetcher(settings) as f:
        yield f


@pytest.fixture
def registry() -> Iterator[FeedRegistry]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(FEEDS_SCHEMA)
    try:
        yield FeedRegistry(conn)
    finally:
        conn.close()


@pytest.fixture
def gazette(web_server: WebServer) -> str:
    """The RSS fixture on the local server, with the page of its summary-only entry; the market page is gone."""
    web_server.add("/news/2024/05/14/harbour-flood-barrier-approved/", ARTICLE_HTML)
    return web_server.add(
        "/rss.xml", fixture_text("rss.xml", web_server), content_type="application/rss+xml", etag='"gazette-1"'
    )


def items(stream: Iterable[object]) -> list[object]:
    """What a poll yields, without its checkpoints."""
    return [i for i in stream if not isinstance(i, Checkpoint)]


def articles(items: list[ArticleRecord | SourceError]) -> list[ArticleRecord]:
    return [i for i in items if isinstance(i, ArticleRecord)]


def errors(items: list[ArticleRecord | SourceError]) -> list[SourceError]:
    return [i for i in items if isinstance(i, SourceError)]


def test_rss_full_content_and_summary_only_entries(
    web_server: WebServer, gazette: str, settings: IndexSettings, fetcher: Fetcher
) -> None:
    items = list(read_sources([gazette], settings, fetcher=fetcher))
    ferry, barrier = articles(items)

    # Full content: taken from the feed, never fetched.
    assert ferry.url == web_server.url("/news/ferry-night-crossings")
    assert ferry.title == "Ferry operator adds night crossings for the summer"
    assert ferry.text.startswith("The island ferry operator will add two night crossings")
    assert "\u201cPeople who cook and clean for our visitors" in ferry.text
    assert ferry.text.count("\n\n") == 3
    assert ferry.published == datetime(2024, 5, 14, 17, 45, tzinfo=UTC)
    assert ferry.source == "Harbour Gazette"
    assert ferry.author == "Tomas Lindqvist"
    assert web_server.requests_to("/news/ferry-night-crossings") == []

    # Summary only: the linked page was fetched and extracted; the feed's date and outlet win.
    assert len(web_server.requests_to("/news/2024/05/14/harbour-flood-barrier-approved/")) == 1
    assert barrier.url == web_server.url("/news/2024/05/14/harbour-flood-barrier-approved/")
    assert barrier.title == "Council approves flood barrier"
    assert barrier.text.startswith("The Harbour District council voted 7 to 2")
    assert barrier.published == datetime(2024, 5, 14, 11, 30, tzinfo=UTC)
    assert barrier.source == "Harbour Gazette"
    assert barrier.author == "Maria Okafor"

    # The entry whose page is gone: one error naming the entry and its link; the others went in.
    (err,) = errors(items)
    assert err.source.startswith(f"{gazette} entry 3 ('Harbour market moves indoors for the winter')")
    assert web_server.url("/news/market-indoors") in err.source
    assert err.reason == "HTTP 404 Not Found"


def test_atom_file_with_relative_links(web_server: WebServer, settings: IndexSettings, fetcher: Fetcher) -> None:
    web_server.add("/science/2024/05/seabird-colony", SEABIRD_HTML)
    feed = web_server.add("/science/atom.xml", fixture_text("atom.xml", web_server), content_type="text/xml")
    items = list(read_sources([feed], settings, fetcher=fetcher))
    assert errors(items) == []
    glacier, seabird = articles(items)
    assert glacier.url == web_server.url("/science/2024/06/glacier-retreat")
    assert glacier.published == datetime(2024, 6, 1, 12, 20, tzinfo=UTC)
    assert glacier.author == "Sigrid Aalto"
    assert "\u201cWe expected the retreat to speed up" in glacier.text
    assert seabird.text.startswith("Ornithologists counted more than 300 nesting pairs")
    assert seabird.published == datetime(2024, 5, 28, 10, 0, tzinfo=UTC)  # updated, when there is no published
    assert seabird.source == "Northern Science Desk"


def test_feed_file_is_sniffed(tmp_path: Path, web_server: WebServer, settings: IndexSettings, fetcher: Fetcher) -> None:
    web_server.add("/science/2024/05/seabird-colony", SEABIRD_HTML)
    path = tmp_path / "science.atom"
    path.write_text(fixture_text("atom.xml", web_server), encoding="utf-8")
    items = list(read_sources([str(path)], settings, fetcher=fetcher))
    assert [a.title for a in articles(items)] == [
        "Glacier retreat doubled in a decade, survey finds",
        "New seabird colony found on outer skerry",
    ]
    assert looks_like_feed(path.read_bytes())
    assert not looks_like_feed(ARTICLE_HTML.encode())


def test_entries_without_links_or_dates(settings: IndexSettings) -> None:
    body = "<p>" + "The lifeboat crew rescued two kayakers off the point on Sunday evening. " * 10 + "</p>"
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Quay Notes</title>
    <item><title>No link, full content</title><guid isPermaLink="false">urn:uuid:1b4e28ba-2fa1-11d2</guid>
      <description><![CDATA[{body}]]></description></item>
    <item><title>No link and only a summary</title><description>Short note.</description></item>
    <item><title>Permalink guid, no date</title><guid>https://quay.example/notes/3</guid>
      <description><![CDATA[{body}]]></description></item>
    </channel></rss>""".encode()
    items = list(read_feed(feed, "https://quay.example/feed.xml", None))
    first, third = articles(items)
    assert first.url == "urn:uuid:1b4e28ba-2fa1-11d2" and first.published is None
    assert third.url == "https://quay.example/notes/3" and third.published is None
    assert third.source == "Quay Notes"
    (err,) = errors(items)
    assert err.source == "https://quay.example/feed.xml entry 2 ('No link and only a summary')"
    assert "no link" in err.reason


def test_malformed_feed_xml(tmp_path: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "broken.rss"
    bad.write_bytes(b"<?xml version='1.0'?><rss version='2.0'><channel><title>Broken</title><item><title>x</ite")
    good = tmp_path / "good.txt"
    good.write_text("Good one\n\nStill goes in.", encoding="utf-8")
    items = list(read_sources([str(bad), str(good)], settings))
    assert [a.title for a in articles(items)] == ["Good one"]
    (err,) = errors(items)
    assert err.source == str(bad)
    assert err.reason.startswith("malformed feed XML")


def test_xml_that_is_not_a_feed(tmp_path: Path, settings: IndexSettings) -> None:
    bad = tmp_path / "sitemap.xml"
    bad.write_text('<?xml version="1.0"?><urlset><url><loc>https://e.com/</loc></url></urlset>', encoding="utf-8")
    (err,) = list(read_sources([str(bad)], settings))
    assert isinstance(err, SourceError)
    assert err.source == str(bad) and err.reason == "not an RSS or Atom feed"


# --- OPML ------------------------------------------------------------------------------------------------------------


def test_read_opml(web_server: WebServer) -> None:
    feeds = read_opml(fixture_text("feeds.opml", web_server).encode())
    assert feeds == [
        ("Harbour Gazette", web_server.url("/rss.xml")),
        ("Northern Science Desk", web_server.url("/science/atom.xml")),
    ]
    with pytest.raises(SourceError, match="malformed OPML"):
        read_opml(b"<opml><body><outline", source="x.opml")


def test_import_opml_registers_every_feed(tmp_path: Path, web_server: WebServer, registry: FeedRegistry) -> None:
    path = tmp_path / "subscriptions.opml"
    path.write_text(fixture_text("feeds.opml", web_server), encoding="utf-8")
    added = import_opml(registry, path)
    assert [f.title for f in added] == ["Harbour Gazette", "Northern Science Desk"]
    assert [f.url for f in registry.list()] == [web_server.url("/rss.xml"), web_server.url("/science/atom.xml")]
    assert len(import_opml(registry, path.read_bytes())) == 2
    assert len(registry.list()) == 2  # importing twice adds nothing


def test_opml_file_as_a_source_reads_its_feeds(
    tmp_path: Path, web_server: WebServer, gazette: str, settings: IndexSettings, fetcher: Fetcher
) -> None:
    web_server.add("/science/2024/05/seabird-colony", SEABIRD_HTML)
    web_server.add("/science/atom.xml", fixture_text("atom.xml", web_server), content_type="application/atom+xml")
    path = tmp_path / "feeds.opml"
    path.write_text(fixture_text("feeds.opml", web_server), encoding="utf-8")
    items = list(read_sources([str(path)], settings, fetcher=fetcher))
    assert len(articles(items)) == 4
    assert len(errors(items)) == 1  # the gazette's market page is gone


# --- registered feeds ------------------------------------------------------------------------------------------------


def test_registry_add_list_remove(tmp_path: Path, registry: FeedRegistry) -> None:
    feed = registry.add("HTTPS://News.Example/feed.xml?utm_source=x", "Example News")
    assert feed.url == "https://news.example/feed.xml" and feed.title == "Example News"
    assert not feed.paused and feed.failures == 0 and feed.added_at.tzinfo is not None
    local = tmp_path / "local.rss"
    local.write_text("<rss/>", encoding="utf-8")
    registry.add(str(local))
    assert [f.url for f in registry.list()] == ["https://news.example/feed.xml", str(local.resolve())]
    assert registry.add("https://news.example/feed.xml").title == "Example News"  # re-adding keeps the title
    with pytest.raises(SourceError, match="http"):
        registry.add("ftp://news.example/feed")
    with pytest.raises(SourceError):
        registry.add(str(tmp_path / "missing.rss"))
    assert registry.remove("https://news.example/feed.xml")
    assert not registry.remove("https://news.example/feed.xml")
    assert [f.url for f in registry.list()] == [str(local.resolve())]


def test_poll_uses_conditional_get(
    web_server: WebServer, gazette: str, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    registry.add(gazette, "Harbour Gazette")
    first = list(poll(registry, fetcher, settings))
    assert len(articles(first)) == 2
    feed = registry.get(gazette)
    assert feed is not None and feed.etag == '"gazette-1"' and feed.last_success is not None

    second = list(poll(registry, fetcher, settings))
    assert second == []
    requests = web_server.requests_to("/rss.xml")
    assert len(requests) == 2
    assert requests[0].headers.get("If-None-Match") is None
    assert requests[1].headers["If-None-Match"] == '"gazette-1"'
    feed = registry.get(gazette)
    assert feed is not None and feed.failures == 0 and not feed.paused


def test_poll_sends_if_modified_since(
    web_server: WebServer, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    stamp = "Wed, 15 May 2024 09:00:00 GMT"
    body = fixture_text("atom.xml", web_server)
    url = web_server.add("/atom.xml", body, content_type="application/atom+xml", last_modified=stamp)
    registry.add(url)
    assert len(items(poll(registry, fetcher, settings))) == 2  # glacier, and the seabird page's 404
    assert list(poll(registry, fetcher, settings)) == []
    assert web_server.requests_to("/atom.xml")[-1].headers["If-Modified-Since"] == stamp


def test_interrupted_poll_keeps_the_old_etag(
    gazette: str, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    registry.add(gazette)
    items = poll(registry, fetcher, settings)
    next(items)
    items.close()  # the consumer stopped (crash, Ctrl-C) before the feed was done
    feed = registry.get(gazette)
    assert feed is not None and feed.etag is None
    assert len(articles(list(poll(registry, fetcher, settings)))) == 2


def test_failing_feed_is_paused_then_resumed(
    web_server: WebServer, gazette: str, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    broken = web_server.add("/broken.xml", "<h1>oops</h1>", status=500)
    refused = f"http://127.0.0.1:{unused_port()}/feed.xml"
    registry.add(broken)
    registry.add(gazette)
    registry.add(refused)
    for attempt in range(1, settings.feed_max_failures + 1):
        items = list(poll(registry, fetcher, settings))
        errs = [e for e in errors(items) if e.source in (broken, refused)]
        assert [e.source for e in errs] == [broken, refused]
        assert errs[0].reason.startswith("HTTP 500 Internal Server Error")
        assert errs[1].reason.startswith("connection refused")
        assert ("paused after 3 consecutive failures" in errs[0].reason) == (attempt == settings.feed_max_failures)
    by_url = {f.url: f for f in registry.list()}
    assert (
        by_url[broken].paused
        and by_url[broken].failures == 3
        and by_url[broken].last_error == "HTTP 500 Internal Server Error"
    )
    assert by_url[refused].paused
    assert not by_url[gazette].paused

    requests_before = len(web_server.requests_to("/broken.xml"))
    assert [e.source for e in errors(list(poll(registry, fetcher, settings)))] == []  # paused feeds are skipped
    assert len(web_server.requests_to("/broken.xml")) == requests_before

    assert registry.resume(broken)
    web_server.add("/broken.xml", fixture_text("rss.xml", web_server), content_type="application/rss+xml")
    assert len(articles(list(poll(registry, fetcher, settings)))) == 2
    feed = registry.get(broken)
    assert feed is not None and not feed.paused and feed.failures == 0 and feed.last_error is None


def test_success_resets_the_failure_count(
    web_server: WebServer, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    url = web_server.add("/flaky.xml", "nope", status=503)
    registry.add(url)
    for _ in range(settings.feed_max_failures - 1):
        list(poll(registry, fetcher, settings))
    web_server.add(
        "/flaky.xml", b'<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title></channel></rss>'
    )
    assert items(poll(registry, fetcher, settings)) == []
    web_server.add("/flaky.xml", "nope", status=503)
    list(poll(registry, fetcher, settings))
    feed = registry.get(url)
    assert feed is not None and feed.failures == 1 and not feed.paused


def test_malformed_registered_feed_counts_as_failure(
    web_server: WebServer, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    url = web_server.add("/bad.xml", b"<rss><channel><item><title>x</ite", content_type="application/rss+xml")
    registry.add(url)
    (err,) = list(poll(registry, fetcher, settings))
    assert isinstance(err, SourceError) and err.source == url and "malformed feed XML" in err.reason
    feed = registry.get(url)
    assert feed is not None and feed.failures == 1


def test_poll_reads_a_registered_feed_file(
    tmp_path: Path, web_server: WebServer, registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> None:
    web_server.add("/science/2024/05/seabird-colony", SEABIRD_HTML)
    path = tmp_path / "science.xml"
    path.write_text(fixture_text("atom.xml", web_server), encoding="utf-8")
    registry.add(str(path))
    items = list(poll(registry, fetcher, settings))
    assert len(articles(items)) == 2 and errors(items) == []
    path.unlink()
    (err,) = list(poll(registry, fetcher, settings))
    assert isinstance(err, SourceError) and err.source == str(path.resolve()) and "cannot read" in err.reason


def test_opml_url_naming_itself_is_not_followed_forever(
    web_server: WebServer, gazette: str, settings: IndexSettings, fetcher: Fetcher
) -> None:
    opml = f"""<opml version="2.0"><body><outline text="me" xmlUrl="{web_server.url("/list.opml")}"/>
    <outline text="Gazette" xmlUrl="{gazette}"/></body></opml>"""
    url = web_server.add("/list.opml", opml, content_type="text/x-opml")
    items = list(read_sources([url], settings, fetcher=fetcher))
    assert len(articles(items)) == 2
    looped, market = errors(items)
    assert looped.source == url and "not followed" in looped.reason
    assert "market-indoors" in market.source
    assert len(web_server.requests_to("/list.opml")) == 2
