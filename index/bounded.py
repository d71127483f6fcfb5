"""Reading within a size limit: every byte is counted as it comes, never trusted from a header.

A file's size on disk, a gzip trailer (ISIZE, the size modulo 4 GiB of the last member only) and an HTTP
Content-Length are hints that let us refuse early; the limit itself is kept by reading in chunks and counting
what came out (after decompression), so a bomb stops at the limit however it is built: one endless line,
a forged trailer, concatenated gzip members, a gzip-encoded HTTP body.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.errors import SourceError

CHUNK = 1 << 20  # 1 MiB: the most read (or inflated) at a time


def too_big(limit: int, *, uncompressed: bool = False) -> str:
    """The reason given for a file over ``max_file_bytes``."""
    what = " uncompressed" if uncompressed else ""
    return f"file too large: over {limit:,} bytes{what} (max_file_bytes)"


class BoundedStream:
    """A binary stream read in chunks that raises ``SourceError`` once more than ``limit`` bytes came out of it.

    Args:
        raw: a binary file object (``open(..., "rb")``, ``gzip.open``); closed with this stream.
        limit: the most bytes that may be read.
        name: the source named in the error.
        uncompressed: say "uncompressed" in the error (``raw`` inflates).
    """

    def __init__(self, raw: Any, limit: int, name: str, *, uncompressed: bool = False) -> None:
        self._raw = raw
        self._limit = limit
        self._name = name
        self._uncompressed = uncompressed
        self.count = 0

    def _chunk(self) -> bytes:
        """At most a chunk, and never more than one byte past the limit."""
        want = min(CHUNK, self._limit + 1 - self.count)
        data: bytes = self._raw.read(want) if want > 0 else b""
        self.count += len(data)
        return data

    def _check(self) -> None:
        if self.count > self._limit:
            raise SourceError(self._name, too_big(self._limit, uncompressed=self._uncompressed))

    def read(self) -> bytes:
        """Everything, at most ``limit`` bytes."""
        parts = []
        while data := self._chunk():
            parts.append(data)
            self._check()
        return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        """The lines, each with its newline; the lines that end within the limit come out before the error."""
        pending = bytearray()
        while data := self._chunk():
            searched = len(pending)  # a long line is searched for its end once, not once per chunk
            pending += data
            start = 0
            while (end := pending.find(b"\n", max(start, searched))) >= 0:
                yield bytes(pending[start : end + 1])
                start = end + 1
            del pending[:start]
            self._check()
        if pending:
            yield bytes(pending)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> BoundedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_file(path: Path, limit: int, name: str | None = None) -> bytes:
    """A whole file, refused (``SourceError``) when it is over ``limit`` bytes: by its size first, then by
    what is actually read (a file that grows, a special file that never ends).

    Raises:
        SourceError: over the limit.
        OSError: it cannot be read.
    """
    name = name or str(path)
    if path.stat().st_size > limit:
        raise SourceError(name, too_big(limit))
    with BoundedStream(path.open("rb"), limit, name) as stream:
        return stream.read()


class UnsupportedEncoding(ValueError):
    """An HTTP Content-Encoding we do not decode (we ask for gzip and deflate only)."""


class BodyDecoder:
    """Decodes an HTTP body's Content-Encoding (identity, gzip, deflate) piece by piece, inflating no more than
    the room left under the cap, so a compressed bomb is stopped at the cap and never inflated in full.

    Args:
        content_encoding: the Content-Encoding header ("" for none); several codings are undone right to left.

    Raises:
        UnsupportedEncoding: a coding other than gzip, deflate or identity.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        for coding in codings:
            if coding not in ("gzip", "x-gzip", "deflate"):
                raise UnsupportedEncoding(coding)
        self._stages = [_Inflater(c) for c in reversed(codings)]

    def decode(self, data: bytes, room: int) -> bytes:
        """The decoded bytes of ``data``: at most ``room + 1`` of them, and more than ``room`` means over the cap.

        Raises:
            zlib.error: the body is not what its coding says.
        """
        for stage in self._stages:
            data = stage.feed(data, room + 1)
        return data

    def flush(self, room: int) -> bytes:
        """What the decoders still hold at the end of the body, as ``decode``."""
        data = b""
        for stage in self._stages:
            data = stage.feed(data, room + 1, final=True)
        return data


class _Inflater:
    def __init__(self, coding: str) -> None:
        # gzip: the gzip wrapper; deflate: the zlib wrapper, or raw deflate from servers that send that.
        self._raw_fallback = coding == "deflate"
        self._obj = zlib.decompressobj(zlib.MAX_WBITS if self._raw_fallback else 16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, max_out: int, *, final: bool = False) -> bytes:
        if self._raw_fallback and data:
            self._raw_fallback = False
            try:
                return self._inflate(data, max_out, final=final)
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inflate(data, max_out, final=final)

    def _inflate(self, data: bytes, max_out: int, *, final: bool) -> bytes:
        # With ``max_out`` zlib inflates no further: input left over is past the cap, where we stop anyway.
        out = self._obj.decompress(data, max_out)
        if final and len(out) < max_out:
            out += self._obj.flush()[: max_out - len(out)]
        return out
