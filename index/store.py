"""The Chroma side of the archive: one passage vector per id, with the metadata search filters on.

A local ``PersistentClient`` under the home by default; ``BRIEFBOT_CHROMA_URL`` switches to a Chroma server.
We always pass vectors ourselves and open collections with ``embedding_function=None``: Chroma's default
embedding function downloads a model on first use, which fails offline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from index.errors import ConfigError, IndexMismatchError
from index.settings import IndexSettings

log = logging.getLogger(__name__)
# Chroma logs telemetry set-up and an INFO line per call; keep it quiet.
for _name in ("chromadb", "chromadb.telemetry", "opentelemetry"):
    logging.getLogger(_name).setLevel(logging.WARNING)

NO_DATE = -1.0  # published_ts for undated articles: never inside a date window


@dataclass(frozen=True)
class VectorHit:
    passage_id: str
    article_id: str
    distance: float
    published_ts: float = NO_DATE
    source: str = ""


def _client(settings: IndexSettings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        parts = urlsplit(settings.chroma_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"BRIEFBOT_CHROMA_URL must look like http://host:port, not {settings.chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise ConfigError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class VectorStore:
    """Passage vectors in one Chroma collection that records the embedding model that made them."""

    def __init__(
        self, settings: IndexSettings, model_id: str, *, name: str | None = None, check_model: bool = True
    ) -> None:
        self.client = _client(settings)
        self.name = name or settings.collection
        self.model_id = model_id
        self.collection = self.client.get_or_create_collection(
            name=self.name,
            metadata={"embedding_model": model_id},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        stored = (self.collection.metadata or {}).get("embedding_model")
        if check_model and stored and stored != model_id:
            raise IndexMismatchError(
                f"the archive was embedded with {stored!r} but the configured model is {model_id!r}: "
                "run `briefbot reindex` to re-embed it, or set BRIEFBOT_EMBEDDING_MODEL back"
            )

    def count(self) -> int:
        return int(self.collection.count())

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        step = 2000  # below Chroma's max batch size
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=list(ids[i : i + step]),
                embeddings=vectors[i : i + step],
                metadatas=list(metadatas[i : i + step]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 2000):
            self.collection.delete(ids=list(ids[i : i + 2000]))

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[VectorHit]:
        # No count() first: Chroma answers an empty collection with no ids, and counting costs ~10 ms on 80k.
        res = self.collection.query(
            query_embeddings=[vector], n_results=k, where=where or None, include=["metadatas", "distances"]
        )
        ids = res["ids"][0]
        metas = (res.get("metadatas") or [[]])[0] or [{}] * len(ids)
        dists = (res.get("distances") or [[]])[0] or [0.0] * len(ids)
        return [
            VectorHit(
                pid,
                str((meta or {}).get("article_id", "")),
                float(d),
                float((meta or {}).get("published_ts", NO_DATE)),
                str((meta or {}).get("source", "")),
            )
            for pid, meta, d in zip(ids, metas, dists, strict=True)
        ]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (those that exist)."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 2000):
            got = self.collection.get(ids=list(ids[i : i + 2000]), include=["embeddings"])
            embeddings = got.get("embeddings")
            if embeddings is None:
                continue
            for pid, vec in zip(got["ids"], embeddings, strict=True):
                out[pid] = np.asarray(vec, dtype=np.float32)
        return out

    def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 2000):
            found.update(self.collection.get(ids=list(ids[i : i + 2000]), include=[])["ids"])
        return found

    def close(self) -> None:
        """Release the client (the HTTP session of a server client, the local system's reference)."""
        server = getattr(self.client, "_server", None)
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
        # chromadb 1.5's HTTP client never closes its httpx session on close(): do it, or its sockets leak.
        session = getattr(server, "_session", None)
        if session is not None and hasattr(session, "close"):
            session.close()

    def drop(self) -> None:
        self.client.delete_collection(self.name)

    def rename(self, new_name: str) -> None:
        self.collection.modify(name=new_name)
        self.name = new_name
