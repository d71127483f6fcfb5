"""Public-only fetching (URLs from chats, the bot's polls): the address checked is the address connected to.

Issue 9, item 2: a name that answers a public address to the check and 127.0.0.1 to the connection (DNS
rebinding) reached internal services. Every test here ends with the internal server (``web_server``, on
127.0.0.1) having seen no request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpcore
import httpx
import pytest

from bot.settings import Settings
from index.archive import Archive
from index.errors import SourceError
from index.feed_registry import FeedRegistry
from index.fetch import Fetcher
from index.settings import IndexSettings
from tests.fakes.web import WebServer
from tests.hostile.fake_internet import LOOPBACK, PUBLIC, FakeInternet, internet

__all__ = ["internet"]

ARTICLE = (
    "<html><head><title>Harbour reopens</title></head><body><article><h1>Harbour reopens</h1>"
    + "<p>The harbour reopened on Monday after the storm, the port authority said. Ferries run again.</p>" * 8
    + "</article></body></html>"
)
SECRET = "<html><body><article><p>internal admin page: the key is 1234</p></article></body></html>"


@pytest.fixture
def settings() -> IndexSettings:
    return IndexSettings(fetch_timeout=3, max_redirects=3)


@pytest.fixture
def internal(web_server: WebServer) -> WebServer:
    """A service on 127.0.0.1 that no chat may reach."""
    web_server.add("/secret", SECRET)
    web_server.add("/feed.xml", "<rss version='2.0'><channel><title>x</title></channel></rss>")
    return web_server


@pytest.fixture
def fetcher(settings: IndexSettings) -> Iterator[Fetcher]:
    with Fetcher(settings, public_only=True) as f:
        yield f


def _refused(fetcher: Fetcher, url: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        fetcher.fetch(url)
    return info.value


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused(
    internet: FakeInternet, internal: WebServer, fetcher: Fetcher
) -> None:
    internet.dns["rebind.test"] = [PUBLIC, LOOPBACK]
    error = _refused(fetcher, internet.url("rebind.test", "/secret", port=internal.port))
    assert "private or local address (127.0.0.1)" in error.reason
    assert internal.requests == []


def test_the_resolver_seam_is_the_one_connections_use(
    internet: FakeInternet, internal: WebServer, settings: IndexSettings
) -> None:
    # Only the injected resolver knows this name: the system resolver (patched getaddrinfo) does not.
    answers = iter([[PUBLIC], [LOOPBACK]])
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers, [LOOPBACK])

    with Fetcher(settings, public_only=True, resolver=resolver) as f:
        error = _refused(f, f"http://seam.test:{internal.port}/secret")
    assert "private or local address (127.0.0.1)" in error.reason
    assert asked == ["seam.test", "seam.test"]  # once for the name check, once where the connection is made
    assert internal.requests == []


def test_a_redirect_to_a_name_that_rebinds_is_refused(
    internet: FakeInternet, internal: WebServer, fetcher: Fetcher
) -> None:
    internet.dns["news.test"] = [PUBLIC]
    internet.dns["rebind.test"] = [PUBLIC, LOOPBACK]
    internet.site.redirect("/story", internet.url("rebind.test", "/secret", port=internal.port))
    error = _refused(fetcher, internet.url("news.test", "/story"))
    assert "private or local address" in error.reason
    assert len(internet.site.requests_to("/story")) == 1
    assert internal.requests == []


def test_a_redirect_to_a_loopback_name_is_refused(
    internet: FakeInternet, internal: WebServer, fetcher: Fetcher
) -> None:
    internet.dns["news.test"] = [PUBLIC]
    internet.dns["internal.test"] = [LOOPBACK]
    internet.site.redirect("/story", internet.url("internal.test", "/secret", port=internal.port))
    assert "private or local address (127.0.0.1)" in _refused(fetcher, internet.url("news.test", "/story")).reason
    assert internal.requests == []


def test_a_public_site_is_fetched_with_its_own_host_header(internet: FakeInternet, fetcher: Fetcher) -> None:
    internet.dns["news.test"] = [PUBLIC]
    internet.site.add("/story", ARTICLE)
    result = fetcher.fetch(internet.url("news.test", "/story"))
    assert result.status == 200 and b"Harbour reopens" in result.content
    (request,) = internet.site.requests_to("/story")
    assert request.headers["Host"] == f"news.test:{internet.site.port}"  # the name, not the address we dialled


def test_tls_goes_to_the_checked_address_with_the_name_as_server_name(internet: FakeInternet) -> None:
    from index.public_net import PublicOnlyTransport

    internet.dns["news.test"] = [PUBLIC]
    dialled: list[str] = []
    server_names: list[str | None] = []

    class Stream(httpcore.NetworkStream):
        def start_tls(self, ssl_context: object, server_hostname: str | None = None, timeout: object = None) -> None:
            server_names.append(server_hostname)
            raise httpcore.ConnectError("no TLS server here: the test only looks at the handshake's name")

        def close(self) -> None:
            pass

    class Network(httpcore.NetworkBackend):
        def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> httpcore.NetworkStream:
            dialled.append(host)
            return Stream()

    client = httpx.Client(transport=PublicOnlyTransport(internet.resolver, network=Network()))
    with client, pytest.raises(httpx.ConnectError):
        client.get("https://news.test/")
    assert dialled == [PUBLIC] and server_names == ["news.test"]


def test_where_private_urls_are_allowed_nothing_changes(
    internet: FakeInternet, internal: WebServer, settings: IndexSettings
) -> None:
    internet.dns["internal.test"] = [LOOPBACK]
    allowed = settings.model_copy(update={"allow_private_urls": True})
    with Fetcher(allowed, public_only=True) as f:  # BRIEFBOT_ALLOW_PRIVATE_URLS: the operator's choice
        assert f.fetch(internal.url("/secret")).status == 200
        assert f.fetch(internet.url("internal.test", "/secret", port=internal.port)).status == 200
    with Fetcher(settings) as f:  # `briefbot ingest URL` from the shell is not restricted
        assert f.fetch(internal.url("/secret")).status == 200
    assert len(internal.requests_to("/secret")) == 3


# --- the bot's doors: /ingest, /addfeed, feed polls, pages of summary-only entries ------------------------------


@pytest.fixture
def bot_settings(briefbot_home: Path) -> Settings:
    return Settings(home=briefbot_home, fetch_timeout=3)


def test_ingest_and_addfeed_from_a_chat_cannot_reach_a_rebinding_name(
    internet: FakeInternet, internal: WebServer, bot_settings: Settings
) -> None:
    from bot.telegram.admin import add_feed, ingest_url

    internet.dns["rebind.test"] = [PUBLIC, LOOPBACK, PUBLIC, LOOPBACK]
    with Archive(bot_settings) as archive:
        report = ingest_url(archive, bot_settings, internet.url("rebind.test", "/secret", port=internal.port))
        assert "Could not ingest" in report and "private or local address" in report
        reply = add_feed(archive, bot_settings, internet.url("rebind.test", "/feed.xml", port=internal.port))
        assert "Could not add" in reply and "private or local address" in reply
        assert FeedRegistry(archive.catalog.db).list() == []
    assert internal.requests == []


def test_feed_polls_and_entry_pages_cannot_reach_a_rebinding_name(
    internet: FakeInternet, internal: WebServer, bot_settings: Settings
) -> None:
    from bot.delivery.alerts import _poll_once

    internet.dns["news.test"] = [PUBLIC]
    internet.dns["rebind.test"] = [PUBLIC, LOOPBACK]
    internet.dns["rebind2.test"] = [PUBLIC, LOOPBACK]
    # A public feed whose only entry has a summary and a link to the internal page.
    entry_link = internet.url("rebind.test", "/secret", port=internal.port)
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>News</title><link>http://news.test/</link>"
        f"<item><title>Short</title><link>{entry_link}</link><description>A summary.</description></item>"
        "</channel></rss>"
    )
    internet.site.add("/feed.xml", feed, content_type="application/rss+xml")
    with Archive(bot_settings) as archive:
        registry = FeedRegistry(archive.catalog.db)
        registry.add(internet.url("news.test", "/feed.xml"))
        registry.add(internet.url("rebind2.test", "/feed.xml", port=internal.port))
        new_ids, failed = _poll_once(archive, bot_settings)
        assert new_ids == [] and failed == 2  # the rebinding feed, and the public feed's entry page
        errors = {f.url: f.last_error for f in registry.list()}
    assert errors[internet.url("news.test", "/feed.xml")] is None
    assert "private or local address" in (errors[internet.url("rebind2.test", "/feed.xml", port=internal.port)] or "")
    assert len(internet.site.requests_to("/feed.xml")) == 1
    assert internal.requests == []
