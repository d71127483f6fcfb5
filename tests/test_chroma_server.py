"""The client/server path: BRIEFBOT_CHROMA_URL against a real `chroma run` started on a free port."""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from bot.answering import AnswerEngine
from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord
from index.backup import EXPORT, backup, restore
from index.errors import ConfigError, RefusedError
from index.health import store_checks
from index.ingest import ingest

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chroma_executable() -> str:
    candidate = Path(sys.executable).parent / "chroma"
    found = str(candidate) if candidate.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the chroma command (installed with chromadb) is missing")
    return found


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [_chroma_executable(), "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:  # readiness: the heartbeat answers
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start: {(path / 'server.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        # The clients' cached systems hold the last pooled sockets: drop them here, not in a later test's gc.
        SharedSystemClient.clear_system_cache()
        _collect_leaked_sockets()


def _records() -> list[ArticleRecord]:
    return [
        ArticleRecord(
            url=f"https://meridianwire.example/n/{i}",
            title=title,
            text=text,
            published=datetime(2026, 11, 20 + i, tzinfo=UTC),
            source="Meridian Wire",
        )
        for i, (title, text) in enumerate(
            [
                (
                    "Port reopens after storm",
                    "The port of Skarvik reopened on Monday. “The quays are safe again,” harbour master Ola Dahl said.",
                ),
                (
                    "Rail strike called off",
                    "Train drivers called off Friday's strike after a late pay offer, their union said on Thursday.",
                ),
            ]
        )
    ]


def test_ingest_and_answer_through_a_chroma_server(chroma_url: str, briefbot_home: Path) -> None:
    settings = Settings(chroma_url=chroma_url)
    archive = Archive(settings)
    report = ingest(archive, _records())
    assert report.added == 2
    assert archive.store.count() == archive.catalog.counts()[1]
    assert not (briefbot_home / "chroma").exists()  # nothing went to the local store
    answer = AnswerEngine(archive, settings).answer_sync("What did the harbour master say about the port?")
    assert not answer.abstained and "quays are safe" in answer.text
    # re-ingest: unchanged, nothing embedded, the server keeps exactly one vector per passage
    again = ingest(archive, _records())
    assert again.unchanged == 2 and again.embedded == 0
    assert archive.store.count() == archive.catalog.counts()[1]
    # `briefbot doctor` sees the server and the stores in step
    found = {c.name: c for c in store_checks(archive, settings)}
    assert not any(c.problem for c in found.values()), [c.line() for c in found.values()]
    assert f"server {chroma_url} answers" in found["chroma"].detail
    assert found["store"].data["vectors"] == found["store"].data["passages"] == archive.catalog.counts()[1]
    archive.close()
    _collect_leaked_sockets()


def _collect_leaked_sockets() -> None:
    """chromadb 1.5's HTTP client leaves one pooled socket behind even after close(); collect it quietly here
    rather than let it fail an unrelated test later."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_a_bad_chroma_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="BRIEFBOT_CHROMA_URL"):
        Archive(Settings(chroma_url="chroma.local:8000"))
    with pytest.raises(ConfigError, match="cannot reach the Chroma server"):
        Archive(Settings(chroma_url=f"http://127.0.0.1:{_free_port()}"))
    _collect_leaked_sockets()


# chromadb 1.5's HTTP client leaves a pooled socket behind on close (see _collect_leaked_sockets); this test opens
# several clients, and the garbage collector may find one before the test ends.
@pytest.mark.filterwarnings("ignore:Exception ignored in.*socket:pytest.PytestUnraisableExceptionWarning")
def test_backup_exports_a_server_collection_and_restore_imports_it_into_a_server_or_a_local_home(
    chroma_url: str, tmp_path: Path
) -> None:
    question = "What did the harbour master say about the port?"

    def check(settings: Settings, counts: dict[str, int]) -> None:
        with Archive(settings) as archive:
            articles, passages = archive.catalog.counts()
            assert {"articles": articles, "passages": passages, "vectors": archive.store.count()} == counts
            answer = AnswerEngine(archive, settings).answer_sync(question)
            assert not answer.abstained and "quays are safe" in answer.text
        _collect_leaked_sockets()  # each client's leftover socket, now rather than in a later test

    source = Settings(home=tmp_path / "source", chroma_url=chroma_url, collection="backup-source")
    with Archive(source) as archive:
        ingest(archive, _records())
        manifest = backup(archive, tmp_path / "b1").manifest
    counts = manifest["counts"]
    assert manifest["vectors"] == EXPORT and (tmp_path / "b1" / EXPORT).is_file()
    assert not (tmp_path / "b1" / "chroma").exists() and counts["vectors"] == counts["passages"] > 0

    on_server = Settings(home=tmp_path / "r1", chroma_url=chroma_url, collection="backup-restored")
    restore(on_server, tmp_path / "b1")
    check(on_server, counts)
    again = Settings(home=tmp_path / "r2", chroma_url=chroma_url, collection="backup-restored")
    with pytest.raises(RefusedError, match="already holds vectors"):
        restore(again, tmp_path / "b1")  # the collection is not empty
    _collect_leaked_sockets()
    assert not (tmp_path / "r2").exists()

    local = Settings(home=tmp_path / "r3")  # the server's export into a local home
    restore(local, tmp_path / "b1")
    check(local, counts)
    with Archive(local) as archive:  # and a local backup back into a server
        backup(archive, tmp_path / "b2")
    from_local = Settings(home=tmp_path / "r4", chroma_url=chroma_url, collection="backup-from-local")
    restore(from_local, tmp_path / "b2")
    check(from_local, counts)
    _collect_leaked_sockets()
