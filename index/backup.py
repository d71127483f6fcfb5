"""Backing up a home while the bot runs, and restoring a backup into an empty home.

A backup is a folder holding:

- a copy of every SQLite database of the home (``*.sqlite3``: the catalog, the bot's state, any other), made with
  SQLite's online backup API, so readers and writers of the live files never notice;
- the vectors: a copy of the local Chroma folder (``chroma/``, its SQLite file again through the backup API) or,
  when a Chroma server holds them (``BRIEFBOT_CHROMA_URL``), an export of the collection through the client
  (``vectors.jsonl.gz``: ids, embeddings and metadata, read in pages);
- not the keyword index (``keywords/``): it is derived from the catalog, and a restored home builds it anew on
  its first open (about 3 minutes a million passages);
- ``briefbot-backup.json``, the manifest (format, version, when, counts, embedding model), written last: a folder
  without it is no backup, and ``restore`` refuses it.

Consistency. Everything is copied while holding the archive's commit lock (``Archive.committing``), which ingest
and prune take per atomic batch, not the write lock (``Archive.writing``) they hold for their whole run. So a
backup waits for the batch in hand (seconds), never for a bulk ingest to finish (hours), and an ingest pauses
between two batches while the copy runs, then goes on. The catalog and the vectors are copied as of the same batch
boundary: every article of the backup is in both stores or in neither. (Taking ``writing`` instead would be as
consistent but would block the backup behind a whole ingest; the commit lock is also all a restore needs.) The
bot's state is copied in the same moment; it refers to articles by text and ids only, so it needs no more.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.archive import Archive
from index.db import storage_error
from index.errors import BriefbotError, RefusedError, StorageError
from index.settings import IndexSettings
from index.store import VectorStore

log = logging.getLogger(__name__)

MANIFEST = "briefbot-backup.json"
FORMAT = "briefbot-backup"
VERSION = 1
EXPORT = "vectors.jsonl.gz"
CHROMA_DIR = "chroma"
_PAGE = 500


@dataclass
class BackupReport:
    """What a backup holds (its manifest) and where it is."""

    path: Path
    manifest: dict[str, Any]
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.path), **self.manifest, "seconds": round(self.seconds, 3)}


def _empty_folder(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live database (SQLite's online backup API), as one self-contained file."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # no -wal beside it: one file per database
        finally:
            dst.close()
    finally:
        src.close()


def _copy_chroma(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "chroma.sqlite3":
            _sqlite_copy(entry, target / entry.name)
        elif entry.name.startswith("chroma.sqlite3-"):
            continue  # its -wal and -shm: the backup API's copy already holds what they hold
        elif entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)


def _export(store: VectorStore, target: Path) -> int:
    n = 0
    with gzip.open(target, "wt", encoding="utf-8") as out:
        header = {"collection": store.name, "metadata": store.collection.metadata or {}}
        out.write(json.dumps(header, default=str) + "\n")
        for ids, vectors, metas in store.pages(_PAGE):
            for pid, vec, meta in zip(ids, vectors, metas, strict=True):
                v = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")
                out.write(json.dumps({"id": pid, "v": v, "m": meta}) + "\n")
                n += 1
    return n


def backup(archive: Archive, dest: Path) -> BackupReport:
    """Write a consistent backup of the archive's home into ``dest`` (a new or empty folder).

    Waits for the batch being written, if any (logged), then copies under the commit lock.

    Raises:
        RefusedError: ``dest`` exists and is not an empty folder.
        StorageError: something could not be read or written (the partial backup has no manifest).
    """
    started = time.perf_counter()
    home = archive.settings.home
    if not _empty_folder(dest):
        raise RefusedError(f"{dest}: not an empty folder; back up into a new folder")
    if dest.resolve() == home.resolve() or home.resolve() in dest.resolve().parents:
        raise RefusedError(f"{dest}: inside the home {home}; back up to a folder outside it")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with archive.committing():
            databases = sorted(p.name for p in home.glob("*.sqlite3") if p.is_file())
            for name in databases:
                _sqlite_copy(home / name, dest / name)
            articles, passages = archive.catalog.counts()
            vectors = archive.store.count()
            if archive.settings.chroma_url:
                exported = _export(archive.store, dest / EXPORT)
                kind = EXPORT
                if exported != vectors:
                    raise StorageError(f"the Chroma server gave {exported} of its {vectors} vectors; back up again")
            else:
                _copy_chroma(archive.settings.chroma_path, dest / CHROMA_DIR)
                kind = CHROMA_DIR
    except (OSError, sqlite3.Error) as exc:
        raise storage_error(getattr(exc, "filename", None) or dest, exc) from None
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedding_model": archive.model_id,
        "collection": archive.store.name,
        "counts": {"articles": articles, "passages": passages, "vectors": vectors},
        "databases": databases,
        "vectors": kind,
    }
    tmp = dest / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, dest / MANIFEST)
    return BackupReport(dest, manifest, time.perf_counter() - started)


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup in ``src``.

    Raises:
        RefusedError: ``src`` is no briefbot backup (no manifest, another format, a newer version, files missing).
    """
    path = src / MANIFEST
    if not src.is_dir():
        raise RefusedError(f"{src}: no such folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefusedError(f"{src}: not a briefbot backup (no {MANIFEST}; `briefbot backup DEST` makes one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RefusedError(f"{path}: not a briefbot backup manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RefusedError(f"{path}: not a briefbot backup manifest")
    if manifest.get("version") != VERSION:
        raise RefusedError(f"{path}: backup format version {manifest.get('version')!r}; this briefbot reads {VERSION}")
    databases, kind = manifest.get("databases"), manifest.get("vectors")
    counts = manifest.get("counts")
    if not isinstance(databases, list) or kind not in (EXPORT, CHROMA_DIR) or not isinstance(counts, dict):
        raise RefusedError(f"{path}: an incomplete briefbot backup manifest")
    for name in [*databases, kind]:
        if not isinstance(name, str) or "/" in name or not (src / name).exists():
            raise RefusedError(f"{src}: the backup is incomplete: {name} is missing")
    return manifest


def _imported(src: Path, manifest: dict[str, Any]) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
    """The backup's vectors in pages, from its export or its Chroma folder."""
    if manifest["vectors"] == EXPORT:
        with gzip.open(src / EXPORT, "rt", encoding="utf-8") as lines:
            next(lines, None)  # the header: collection name and metadata
            ids: list[str] = []
            vecs: list[np.ndarray] = []
            metas: list[dict[str, Any]] = []
            for line in lines:
                row = json.loads(line)
                ids.append(row["id"])
                vecs.append(np.frombuffer(base64.b64decode(row["v"]), dtype="<f4"))
                metas.append(row["m"])
                if len(ids) >= _PAGE:
                    yield ids, np.vstack(vecs), metas
                    ids, vecs, metas = [], [], []
            if ids:
                yield ids, np.vstack(vecs), metas
        return
    # A Chroma folder into a server: read it through a private working copy (the backup stays untouched).
    reader_settings = IndexSettings(home=src, collection=manifest["collection"])
    reader = VectorStore(reader_settings, manifest["embedding_model"], read_only=True, check_model=False)
    try:
        yield from reader.pages(_PAGE)
    finally:
        reader.close()


def restore(settings: IndexSettings, src: Path) -> dict[str, Any]:
    """Restore the backup in ``src`` into ``settings.home``, which must be new or empty (and, with a Chroma
    server, its collection too). Returns the backup's manifest.

    The home is assembled beside it and renamed into place once its counts match the manifest, so a failed
    restore leaves no half-restored home.

    Raises:
        RefusedError: ``src`` is no backup, or the home (or the server's collection) is not empty.
        StorageError: the copy failed or does not match the manifest.
    """
    manifest = read_manifest(src)
    home = settings.home
    if not _empty_folder(home):
        raise RefusedError(f"{home}: the home is not empty; restore into a new or empty home (set BRIEFBOT_HOME)")
    server = settings.chroma_url
    counts = manifest["counts"]
    staging = home.parent / f".{home.name}.restoring-{os.getpid()}"
    stage = settings.model_copy(update={"home": staging})
    try:
        staging.mkdir(parents=True)
        for name in manifest["databases"]:
            shutil.copy2(src / name, staging / name)
        if manifest["vectors"] == CHROMA_DIR and not server:
            shutil.copytree(src / CHROMA_DIR, staging / CHROMA_DIR)
            target = VectorStore(stage, manifest["embedding_model"], check_model=False)
        else:
            target = VectorStore(stage, manifest["embedding_model"], check_model=False)
            if target.count():
                target.close()
                raise RefusedError(  # the server's URL is not repeated: it may carry credentials
                    f"the collection {target.name!r} on the Chroma server already holds vectors; restore into an "
                    "empty collection (set BRIEFBOT_COLLECTION) or delete it first"
                )
            for ids, vectors, metas in _imported(src, manifest):
                target.upsert(ids, vectors, metas)
        try:
            restored = target.count()
        finally:
            target.close()
        catalog = sqlite3.connect(staging / "catalog.sqlite3")
        try:
            articles = catalog.execute("SELECT count(*) FROM articles").fetchone()[0]
            passages = catalog.execute("SELECT count(*) FROM passages").fetchone()[0]
        finally:
            catalog.close()
        found = {"articles": articles, "passages": passages, "vectors": restored}
        if any(found[k] != counts.get(k) for k in found):
            raise StorageError(f"{src}: the restored copy does not match its manifest ({found} against {counts})")
        if home.exists():
            home.rmdir()
        staging.rename(home)
    except BriefbotError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise storage_error(getattr(exc, "filename", None) or home, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
