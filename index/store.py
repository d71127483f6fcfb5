"""The Chroma side of the archive: one passage vector per id, with the metadata search filters on.

A local ``PersistentClient`` under the home by default; ``BRIEFBOT_CHROMA_URL`` switches to a Chroma server.
We always pass vectors ourselves and open collections with ``embedding_function=None``: Chroma's default
embedding function downloads a model on first use, which fails offline.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from index.db import connect_readonly, storage_error
from index.errors import ConfigError, IndexMismatchError, StorageError
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


def _client(settings: IndexSettings, path: Path | None = None) -> Any:
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
    if path is None:
        path = settings.chroma_path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(path, exc) from None
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises its InternalError for a database it cannot write
        raise StorageError(f"{path}: the vector store cannot be opened ({exc})") from None


def _read_only_copy(chroma_path: Path) -> Path:
    """A private working copy of a local Chroma store that this process may not write.

    Chroma writes its SQLite file whenever it opens it, so it cannot open a read-only store in place. The copy
    holds a consistent copy of that file (the SQLite backup API, reading without writing) and links to the
    vector segment folders, which are only read: a few megabytes, whatever the size of the vectors.
    """
    source = chroma_path / "chroma.sqlite3"
    if not source.is_file():
        raise StorageError(f"{chroma_path}: no vector store here (the home is read-only, so none can be created)")
    work = Path(tempfile.mkdtemp(prefix="briefbot-readonly-chroma-"))
    try:
        reader = connect_readonly(source)
        try:
            copy = sqlite3.connect(work / "chroma.sqlite3")
            try:
                reader.backup(copy)
            finally:
                copy.close()
        finally:
            reader.close()
        for entry in chroma_path.iterdir():
            if entry.is_dir():
                (work / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise StorageError(f"{chroma_path}: cannot make a working copy to read it in {work.parent} ({exc})") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work


class VectorStore:
    """Passage vectors in one Chroma collection that records the embedding model that made them."""

    def __init__(
        self,
        settings: IndexSettings,
        model_id: str,
        *,
        name: str | None = None,
        check_model: bool = True,
        read_only: bool = False,
    ) -> None:
        """Open (creating if needed) the collection.

        Args:
            settings: where the store is (local path or server URL) and the collection name.
            model_id: the embedding model of the vectors; recorded on a new collection.
            name: another collection than ``settings.collection``.
            check_model: raise ``IndexMismatchError`` when the collection was made by another model.
            read_only: the local store may not be written: read a working copy (see ``_read_only_copy``).

        Raises:
            StorageError: the store cannot be opened or copied.
        """
        self._work: Path | None = None
        self._where = settings.chroma_url or str(settings.chroma_path)
        if read_only and not settings.chroma_url:
            self._work = _read_only_copy(settings.chroma_path)
        try:
            self.client = _client(settings, self._work)
            self.name = name or settings.collection
            self.model_id = model_id
            self.collection = self.client.get_or_create_collection(
                name=self.name,
                metadata={"embedding_model": model_id},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        except BaseException:
            self._remove_work()
            raise
        stored = (self.collection.metadata or {}).get("embedding_model")
        if check_model and stored and stored != model_id:
            raise IndexMismatchError(
                f"the archive was embedded with {stored!r} but the configured model is {model_id!r}: "
                "run `briefbot reindex` to re-embed it, or set BRIEFBOT_EMBEDDING_MODEL back"
            )

    def count(self) -> int:
        return int(self.collection.count())

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        """Insert or replace vectors.

        Raises:
            StorageError: Chroma could not write them (full disk, read-only store, server error).
        """
        step = 2000  # below Chroma's max batch size
        try:
            for i in range(0, len(ids), step):
                self.collection.upsert(
                    ids=list(ids[i : i + step]),
                    embeddings=vectors[i : i + step],
                    metadatas=list(metadatas[i : i + step]),
                )
        except Exception as exc:  # chromadb raises its own InternalError (a ChromaError) for its database
            raise self._write_error(exc) from None

    def delete(self, ids: Sequence[str]) -> None:
        """Delete vectors (those that exist).

        Raises:
            StorageError: as for ``upsert``.
        """
        try:
            for i in range(0, len(ids), 2000):
                self.collection.delete(ids=list(ids[i : i + 2000]))
        except Exception as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: Exception) -> StorageError:
        text = str(exc)
        if "disk is full" in text or "(code: 13)" in text:
            return storage_error(self._where, OSError(errno.ENOSPC, "No space left on device"))
        if "readonly" in text or "read-only" in text or "(code: 8)" in text:
            return storage_error(self._where, OSError(errno.EROFS, "Read-only"))
        return StorageError(f"{self._where}: the vector store could not be written ({text})")

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

    def pages(self, size: int = 500) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        """Every vector with its id and metadata, ``size`` at a time (for a backup; hold the commit lock, or the
        pages may shift under a concurrent write)."""
        offset = 0
        while True:
            got = self.collection.get(limit=size, offset=offset, include=["embeddings", "metadatas"])
            ids = list(got["ids"])
            if not ids:
                return
            embeddings = got.get("embeddings")
            vectors = np.asarray(embeddings if embeddings is not None else [], dtype=np.float32)
            metas = [dict(m or {}) for m in (got.get("metadatas") or [{}] * len(ids))]
            yield ids, vectors.reshape(len(ids), -1), metas
            offset += len(ids)

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
        self._remove_work()

    def _remove_work(self) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def drop(self) -> None:
        self.client.delete_collection(self.name)

    def rename(self, new_name: str) -> None:
        self.collection.modify(name=new_name)
        self.name = new_name
