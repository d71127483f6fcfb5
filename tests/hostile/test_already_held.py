"""Probes that already held when issue 9 was filed, kept here so no later change reopens them.

Already covered elsewhere, not repeated here: redirect loop (tests/test_sources.py::test_redirect_loop), a slow
server (::test_timeout), a body over max_page_bytes with and without Content-Length
(::test_body_over_max_page_bytes), a binary file (::test_binary_file, ::test_binary_file_with_unknown_extension),
OPML naming itself (tests/test_feeds.py::test_opml_url_naming_itself_is_not_followed_forever).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.article import ArticleRecord
from index.errors import SourceError
from index.feed_registry import FeedRegistry, import_opml
from index.feeds import read_opml
from index.fetch import Fetcher
from index.settings import IndexSettings
from index.sources import read_sources
from tests.fakes.web import Route, WebServer
from tests.hostile.fake_internet import PUBLIC, FakeInternet, internet

__all__ = ["internet"]

LONG = "The harbour office said the quay reopens on Monday after three weeks of repairs. " * 10

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]>\n"
)


@pytest.fixture
def settings() -> IndexSettings:
    return IndexSettings(fetch_timeout=2, max_page_bytes=200_000, max_file_bytes=1_000_000)


def _read(sources: list[str], settings: IndexSettings, fetcher: Fetcher | None = None) -> list[object]:
    return list(read_sources(sources, settings, fetcher=fetcher))


# --- hostile XML -----------------------------------------------------------------------------------------------


def test_an_external_entity_in_a_feed_reads_no_file_and_fetches_nothing(
    tmp_path: Path, web_server: WebServer, settings: IndexSettings
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    feed = tmp_path / "xxe.xml"
    feed.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY file SYSTEM "{secret.as_uri()}">'
        f'<!ENTITY web SYSTEM "{web_server.url("/xxe")}">]>\n'
        "<rss version='2.0'><channel><title>Feed</title><item><title>Story</title>"
        f"<guid>urn:x:1</guid><description>{LONG} &file; &web;</description></item></channel></rss>",
        encoding="utf-8",
    )
    items = _read([str(feed)], settings)
    texts = " ".join(i.text for i in items if isinstance(i, ArticleRecord))
    assert "TOP-SECRET-VALUE" not in texts
    assert web_server.requests == []
    assert all(isinstance(i, ArticleRecord | SourceError) for i in items) and items


def test_billion_laughs_in_a_feed_and_an_opml_list_end_quickly_and_small(
    tmp_path: Path, settings: IndexSettings
) -> None:
    feed = tmp_path / "laughs.xml"
    feed.write_text(
        LAUGHS + "<rss version='2.0'><channel><title>&lol9;</title><item><title>x</title>"
        f"<guid>urn:x:1</guid><description>{LONG} &lol9;</description></item></channel></rss>",
        encoding="utf-8",
    )
    started = time.monotonic()
    items = _read([str(feed)], settings)
    assert time.monotonic() - started < 10
    assert all(len(i.text) < 1_000_000 for i in items if isinstance(i, ArticleRecord))
    with pytest.raises(SourceError, match="malformed OPML"):
        read_opml((LAUGHS + '<opml><body><outline xmlUrl="&lol9;"/></body></opml>').encode())


# --- OPML lists that name files and private addresses ------------------------------------------------------------


def test_an_opml_list_with_file_urls_registers_only_web_feeds(tmp_path: Path, briefbot_home: Path) -> None:
    from index.catalog import Catalog

    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="passwd" xmlUrl="file:///etc/passwd"/>'
        '<outline text="local" xmlUrl="/etc/hostname"/><outline text="web" xmlUrl="https://news.example/rss"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    catalog = Catalog(briefbot_home / "catalog.sqlite3")
    try:
        registry = FeedRegistry(catalog.db)
        assert [f.url for f in import_opml(registry, opml)] == ["https://news.example/rss"]
        assert [f.url for f in registry.list()] == ["https://news.example/rss"]
    finally:
        catalog.close()


def test_an_opml_list_from_the_web_cannot_reach_files_or_private_addresses(
    internet: FakeInternet, web_server: WebServer, settings: IndexSettings
) -> None:
    internet.dns["news.test"] = [PUBLIC]
    web_server.add("/feed.xml", "<rss version='2.0'><channel><title>internal</title></channel></rss>")
    opml = (
        '<opml version="2.0"><body>'
        '<outline text="passwd" xmlUrl="file:///etc/passwd"/>'
        f'<outline text="internal" xmlUrl="{web_server.url("/feed.xml")}"/>'
        '<outline text="metadata" xmlUrl="http://169.254.169.254/latest/meta-data/"/>'
        "</body></opml>"
    )
    internet.site.add("/feeds.opml", opml, content_type="text/x-opml")
    with Fetcher(settings, public_only=True) as fetcher:
        items = _read([internet.url("news.test", "/feeds.opml")], settings, fetcher)
    reasons = {i.source: i.reason for i in items if isinstance(i, SourceError)}
    assert len(items) == len(reasons) == 3
    assert "only http and https" in reasons["file:///etc/passwd"]
    assert "private or local address" in reasons[web_server.url("/feed.xml")]
    assert "private or local address" in reasons["http://169.254.169.254/latest/meta-data/"]
    assert web_server.requests == []


# --- hostile web servers ---------------------------------------------------------------------------------------


def test_a_redirect_to_a_file_url_reads_no_file(web_server: WebServer, settings: IndexSettings) -> None:
    url = web_server.redirect("/go", "file:///etc/passwd")
    with Fetcher(settings) as fetcher, pytest.raises(SourceError) as info:
        fetcher.fetch(url)
    assert info.value.reason == "not a valid http(s) URL"


def test_a_redirect_to_a_file_url_from_a_chat_reads_no_file(internet: FakeInternet, settings: IndexSettings) -> None:
    internet.dns["news.test"] = [PUBLIC]
    internet.site.redirect("/go", "file:///etc/passwd")
    with Fetcher(settings, public_only=True) as fetcher, pytest.raises(SourceError) as info:
        fetcher.fetch(internet.url("news.test", "/go"))
    assert info.value.reason.startswith("redirected to file://")
    assert info.value.reason.endswith(": only http and https URLs can be fetched")


def test_a_ten_gigabyte_content_length_is_refused_before_reading(
    web_server: WebServer, settings: IndexSettings
) -> None:
    web_server.routes["/ten-gb"] = Route(
        headers={"Content-Length": str(10 * 2**30)}, declare_length=False, stream_size=100_000
    )
    started = time.monotonic()
    with Fetcher(settings) as fetcher, pytest.raises(SourceError, match="max_page_bytes"):
        fetcher.fetch(web_server.url("/ten-gb"))
    assert time.monotonic() - started < 2


def test_an_endless_body_stops_at_max_page_bytes(web_server: WebServer, settings: IndexSettings) -> None:
    url = web_server.huge("/endless", size=10**12, declare_length=False)
    started = time.monotonic()
    with Fetcher(settings) as fetcher, pytest.raises(SourceError, match="max_page_bytes"):
        fetcher.fetch(url)
    assert time.monotonic() - started < 2


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """A server that sends its headers, then one byte every 50 ms for at most 10 s: never idle long enough for
    a read timeout, never done."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>")
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/drip"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=12)


def test_a_server_dripping_bytes_is_cut_off_at_the_fetch_timeout(dripping_server: str) -> None:
    started = time.monotonic()
    with Fetcher(IndexSettings(fetch_timeout=1)) as fetcher, pytest.raises(SourceError, match="timed out after 1s"):
        fetcher.fetch(dripping_server)
    assert time.monotonic() - started < 3
