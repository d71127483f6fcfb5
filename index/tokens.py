"""tiktoken encodings from the BPE files shipped in ``index/data``: nothing is downloaded, ever.

tiktoken fetches its BPE files from the internet on first use. We ship cl100k_base and o200k_base gzipped
beside this module and check them against the sha256 that tiktoken itself expects.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from functools import cache
from importlib import resources

import tiktoken
import tiktoken_ext.openai_public as openai_public

from index.errors import ConfigError

SHIPPED = {
    # name: (file in index/data, sha256 of the uncompressed file, as pinned in tiktoken_ext.openai_public)
    "cl100k_base": (
        "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
_lock = threading.Lock()


def _read_ranks(name: str) -> dict[bytes, int]:
    filename, expected = SHIPPED[name]
    raw = gzip.decompress(resources.files("index").joinpath("data", filename).read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected:
        raise ConfigError(f"shipped BPE file {filename} is corrupt (sha256 {digest}, expected {expected})")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` built from the shipped BPE file.

    Raises:
        ConfigError: the name is not one we ship, or the shipped file fails its hash check.
    """
    if name not in SHIPPED:
        raise ConfigError(f"unknown tokenizer {name!r}: choose one of {', '.join(sorted(SHIPPED))}")
    ranks = _read_ranks(name)
    # Reuse tiktoken's own pattern and special tokens; only the BPE loading is ours.
    with _lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *_a, **_k: ranks
        try:
            spec = getattr(openai_public, name)()
        finally:
            openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def count(text: str, name: str = "cl100k_base") -> int:
    """Number of tokens in ``text``."""
    return len(encoding(name).encode_ordinary(text))
