"""Size limits hold against what is read, not what headers claim (issue 9, item 1).

A gzip file's trailer (ISIZE) is the size modulo 4 GiB of its last member only, and a line-by-line count sees a
line only once all of it is in memory: a .jsonl.gz holding gigabytes in one line went straight past
``max_file_bytes``. The bombs here are a few hundred megabytes, built in a second, and must be refused with one
line each while the process stays small.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from pathlib import Path

import pytest

from index.article import ArticleRecord
from index.errors import SourceError
from index.fetch import Fetcher
from index.settings import IndexSettings
from index.sources import read_sources
from tests.fakes.web import Route, WebServer
from tests.hostile.cli_process import cli_env, run_cli

BOMB_BYTES = 400 * 2**20  # inflated size of each bomb: 400 MiB of "a", not one newline
LIMIT = 1_000_000  # BRIEFBOT_MAX_FILE_BYTES for the child
RSS_ALLOWANCE = 300 * 2**20


def _deflate_bomb(size: int) -> bytes:
    """A gzip member of ``size`` bytes of "a" (one line, no newline), compressed in 1 MiB pieces."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: with the gzip header and trailer
    piece = b"a" * 2**20
    parts = [packer.compress(piece) for _ in range(size // len(piece))]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    member = _deflate_bomb(BOMB_BYTES)  # about 400 kB
    forged = folder / "forged.jsonl.gz"  # the trailer claims 1,000 bytes
    forged.write_bytes(member[:-4] + (1000).to_bytes(4, "little"))
    concatenated = folder / "concatenated.jsonl.gz"  # an honest trailer, of its last (tiny) member only
    concatenated.write_bytes(member + gzip.compress(b"\n"))
    return forged, concatenated


def test_gzip_bombs_are_refused_at_the_limit_with_one_line_each(tmp_path: Path, bombs: tuple[Path, Path]) -> None:
    env = cli_env(tmp_path / "home", BRIEFBOT_MAX_FILE_BYTES=str(LIMIT))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n")
    baseline = run_cli(["ingest", str(empty)], env, peak=True)
    assert baseline.code == 1 and baseline.peak_rss > 0

    run = run_cli(["ingest", *map(str, bombs)], env, peak=True)
    grew = run.peak_rss - baseline.peak_rss
    assert grew < RSS_ALLOWANCE, f"peak memory grew by {grew / 2**20:.0f} MiB"
    run.assert_no_traceback()
    assert run.code == 1
    assert run.error_lines == [
        f"failed: {bomb}: file too large: over {LIMIT:,} bytes uncompressed (max_file_bytes)" for bomb in bombs
    ]
    assert run.out.startswith("0 added")


def test_the_lines_before_a_bomb_still_go_in(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl.gz"
    good = json.dumps({"url": "https://e.com/1", "title": "One", "text": "First story."}) + "\n"
    # Two gzip members: the trailer of the last one says 1 byte, so only the read can find the limit.
    head = gzip.compress(good.encode() + b'{"url": "https://e.com/2", "text": "' + b"b" * 300_000)
    path.write_bytes(head + gzip.compress(b"\n"))
    items = list(read_sources([str(path)], IndexSettings(max_file_bytes=100_000)))
    assert [type(i) for i in items] == [ArticleRecord, SourceError]
    assert isinstance(items[1], SourceError) and "max_file_bytes" in items[1].reason


class _Endless:
    """A file that never ends (a device, a file still being written): read() always has more."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return (self.data * (size // len(self.data) + 1))[:size]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("data", [b"a", b"line\n"])
def test_a_stream_that_never_ends_is_stopped_at_the_limit(data: bytes) -> None:
    from index.bounded import BoundedStream

    endless = _Endless(data)
    with pytest.raises(SourceError, match="max_file_bytes"):
        BoundedStream(endless, 5_000_000, "endless").read()
    lines = 0
    with pytest.raises(SourceError, match="max_file_bytes"):
        for _ in BoundedStream(endless, 5_000_000, "endless"):
            lines += 1
    assert endless.reads < 20 and (lines > 0) == (b"\n" in data)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_http_body_is_inflated_only_up_to_the_cap(web_server: WebServer, coding: str) -> None:
    zeros = b"\0" * 50_000_000
    body = gzip.compress(zeros, 9) if coding == "gzip" else zlib.compress(zeros, 9)
    web_server.routes["/bomb"] = Route(body=body, content_type="text/html", headers={"Content-Encoding": coding})
    settings = IndexSettings(max_page_bytes=200_000, fetch_timeout=5)
    with Fetcher(settings) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(SourceError, match="max_page_bytes"):
                fetcher.fetch(web_server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 10_000_000, f"{peak:,} bytes allocated for a 200 kB cap"


def test_a_compressed_body_within_the_cap_is_read_whole(web_server: WebServer) -> None:
    page = b"<html><body><article>" + b"<p>The ferry runs again.</p>" * 1000 + b"</article></body></html>"
    web_server.routes["/page"] = Route(
        body=gzip.compress(page), content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    with Fetcher(IndexSettings(max_page_bytes=200_000)) as fetcher:
        assert fetcher.fetch(web_server.url("/page")).content == page


def test_a_body_in_an_encoding_we_did_not_ask_for_is_refused(web_server: WebServer) -> None:
    web_server.routes["/br"] = Route(body=b"\x1b\x00\x00", content_type="text/html", headers={"Content-Encoding": "br"})
    with Fetcher(IndexSettings()) as fetcher, pytest.raises(SourceError, match="unsupported content encoding br"):
        fetcher.fetch(web_server.url("/br"))
    assert web_server.requests_to("/br")[0].headers["Accept-Encoding"] == "gzip, deflate"
