"""Fetching pages and feeds over HTTP: timeouts, a redirect limit, a size cap, conditional GET.

Every failure comes out as a ``SourceError`` with a short reason a user can act on ("HTTP 404 Not Found",
"timed out after 20s", "too many redirects", "connection refused"); httpx exceptions never escape.
"""

from __future__ import annotations

import codecs
import errno
import logging
import re
import time
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType

import httpx
from charset_normalizer import from_bytes

from index.bounded import BodyDecoder, UnsupportedEncoding
from index.errors import SourceError
from index.public_net import AddressRefused, PublicOnlyTransport
from index.settings import IndexSettings
from index.urls import Resolver, check_public_url, redact_url, resolve_host

log = logging.getLogger(__name__)

ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


_WESTERN = ("cp1252", "latin_1", "iso8859_15")


class UndecodableError(ValueError):
    """The bytes are not text in any encoding we can recognise (a binary file)."""


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_charset(data: bytes) -> str | None:
    """The encoding a document declares about itself: a BOM, ``<?xml encoding>`` or ``<meta charset>``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return _known_codec(match.group(1).decode("ascii")) if match else None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes: the given or self-declared charset, then UTF-8, then charset-normalizer's guess.

    Raises:
        UndecodableError: the bytes hold NUL bytes (outside UTF-16/32) or match no encoding.
    """
    bom_charset = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if bom_charset:
        try:
            return data.decode(bom_charset)
        except UnicodeDecodeError:
            pass
    elif b"\x00" in data:
        raise UndecodableError("binary data (NUL bytes)")
    for candidate in (_known_codec(charset), declared_charset(data), "utf-8"):
        if candidate:
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                continue
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UndecodableError("binary data (no text encoding matches)")
    # Short Western texts often fit cp1250 and cp1252 equally well: on a tie, the far commoner cp1252 wins.
    tied = [m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    for match in tied:
        if match.encoding in _WESTERN:
            return str(match)
    return str(best)


@dataclass
class FetchResult:
    """One HTTP response, read in full (within the size cap).

    Attributes:
        url: the final URL after redirects.
        status: HTTP status (200, or 304 when ``not_modified``).
        headers: response headers.
        content: the body, decoded from any Content-Encoding; empty for 304.
        requested_url: the URL that was asked for.
    """

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    requested_url: str = ""
    redirects: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        """The media type, lowercased and without parameters ("text/html"); "" when absent."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return _known_codec(value)
        return None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @cached_property
    def text(self) -> str:
        """The body as text, by the declared charset or by detection.

        Raises:
            SourceError: the body is binary.
        """
        try:
            return decode_bytes(self.content, self.charset)
        except UndecodableError as exc:
            raise SourceError(self.requested_url or self.url, str(exc)) from None


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "resolution" in lowered:
        return "cannot resolve host"
    return f"could not connect ({text or type(exc).__name__})"


def _proxied() -> bool:
    """Whether httpx would send requests through a proxy from the environment (HTTP_PROXY and friends)."""
    return any(key in urllib.request.getproxies() for key in ("http", "https", "all"))


class Fetcher:
    """Fetches URLs with one ``httpx.Client``; use as a context manager or call ``close()``.

    Args:
        settings: timeouts, redirect limit, size cap, User-Agent.
        transport: an httpx transport for tests (``httpx.MockTransport``); the network otherwise.
        public_only: refuse private, loopback and link-local addresses at every hop (for URLs sent from
            chats); ignored when ``settings.allow_private_urls`` is set. Each hop's host name is checked before
            the request, and each connection is made only to the public address that was checked
            (``index.public_net``), so a name that answers differently the second time (DNS rebinding) cannot
            reach a private address. Through a proxy from the environment the proxy connects, so only the name
            check applies.
        resolver: host name to addresses for the public-only checks (the system resolver by default).
    """

    def __init__(
        self,
        settings: IndexSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        public_only: bool = False,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.public_only = public_only and not settings.allow_private_urls
        self._resolver = resolver or resolve_host
        if self.public_only and transport is None:
            if _proxied():
                log.info("a proxy is set in the environment: it makes the connections; host names are checked")
            else:
                transport = PublicOnlyTransport(self._resolver)
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.fetch_timeout),
            follow_redirects=False,
            # Only codings we decode within the size cap (``index.bounded.BodyDecoder``).
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
            transport=transport,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET a URL, following at most ``settings.max_redirects`` redirects.

        Args:
            url: an http(s) URL.
            etag: the ETag of the copy we have: sent as If-None-Match.
            last_modified: the Last-Modified of the copy we have: sent as If-Modified-Since.

        Returns:
            The response; ``not_modified`` is True for a 304.

        Raises:
            SourceError: naming ``url``, for any status >= 400, network failure, timeout, redirect loop or
                limit, or a body over ``settings.max_page_bytes``.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            return self._fetch(url, headers)
        except SourceError:
            raise
        except AddressRefused as exc:
            raise SourceError(url, f"refused: {exc}") from None
        except httpx.TimeoutException:
            raise SourceError(url, f"timed out after {self.settings.fetch_timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise SourceError(url, _connect_reason(exc)) from None
        except httpx.RemoteProtocolError:
            raise SourceError(url, "the server closed the connection without a complete response") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise SourceError(url, "not a valid http(s) URL") from None
        except httpx.DecodingError:
            raise SourceError(url, "the server sent a body that cannot be decompressed") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise SourceError(url, f"request failed ({type(exc).__name__}: {exc})") from None

    def _fetch(self, url: str, headers: dict[str, str]) -> FetchResult:
        started = time.monotonic()
        request = self._client.build_request("GET", url, headers=headers)
        seen: list[str] = []
        while True:
            if self.public_only:
                try:
                    check_public_url(str(request.url), self._resolver)
                except SourceError as exc:  # name what was asked for, and the hop that was refused
                    hop = f"redirected to {redact_url(str(request.url))}: " if seen else ""
                    raise SourceError(url, hop + exc.reason) from None
            log.debug("GET %s", request.url)
            response = self._client.send(request, stream=True)
            if response.next_request is None:
                break
            response.close()
            seen.append(str(request.url))
            request = response.next_request
            # A page may redirect to itself once to set a cookie; a third visit is a loop.
            if seen.count(str(request.url)) >= 2:
                raise SourceError(url, "redirect loop")
            if len(seen) > self.settings.max_redirects:
                raise SourceError(url, f"too many redirects (more than {self.settings.max_redirects})")
        try:
            log.info("GET %s -> %s", redact_url(str(response.url)), response.status_code)
            if response.status_code == 304:
                return FetchResult(str(response.url), 304, response.headers, b"", url, seen)
            if response.status_code >= 400:
                reason = response.reason_phrase or ""
                raise SourceError(url, f"HTTP {response.status_code} {reason}".strip())
            return FetchResult(
                str(response.url),
                response.status_code,
                response.headers,
                self._read(url, response, started),
                url,
                seen,
            )
        finally:
            response.close()

    def _read(self, url: str, response: httpx.Response, started: float) -> bytes:
        cap = self.settings.max_page_bytes
        too_big = f"response larger than {cap:,} bytes (max_page_bytes)"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise SourceError(url, too_big)
        chunks: Iterable[bytes]
        if response.is_stream_consumed:  # built in memory (httpx.MockTransport): read and decoded already
            chunks, encoding = [response.content], ""
        else:
            chunks, encoding = response.iter_raw(), response.headers.get("content-encoding", "")
        try:
            decoder = BodyDecoder(encoding)
        except UnsupportedEncoding as exc:
            raise SourceError(url, f"unsupported content encoding {exc}") from None
        # The raw bytes, decoded here a bounded piece at a time: a compressed bomb stops at the cap.
        body = bytearray()
        try:
            for chunk in chunks:
                body += decoder.decode(chunk, cap - len(body))
                if len(body) > cap:
                    raise SourceError(url, too_big)
                # A server dripping bytes never trips the per-read timeout: bound the whole request too.
                if time.monotonic() - started > self.settings.fetch_timeout:
                    raise SourceError(url, f"timed out after {self.settings.fetch_timeout:g}s")
            body += decoder.flush(cap - len(body))
        except zlib.error:
            raise SourceError(url, "the server sent a body that cannot be decompressed") from None
        if len(body) > cap:
            raise SourceError(url, too_big)
        return bytes(body)
