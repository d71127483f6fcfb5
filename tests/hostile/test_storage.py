"""A home that cannot be written: read-only (a snapshot mounted for a second bot) or on a full disk (issue 9,
item 3). Reading works; writing says which path and what to do in one line, exits 1, and leaves the home as it
was.

Root ignores file permissions, so the permission probes run the CLI as ``nobody`` when the suite runs as root;
the read-only mount and the full disk need root (``mount``), and are skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord
from index.feed_registry import FeedRegistry
from index.ingest import ingest
from tests.conftest import DEMO_TODAY
from tests.hostile.cli_process import User, cli_env, open_tmp, run_cli, tree_state, unprivileged, writable_by

__all__ = ["open_tmp", "unprivileged"]

QUESTION = "what happened this week?"


def _new_article(folder: Path, name: str = "new.md", n: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        f"# Lighthouse keeper retires {n}\n\nThe last keeper of the Skarvik light retired on Friday after "
        f"forty years, the harbour office said. The light has run on its own since {1990 + n}.\n",
        encoding="utf-8",
    )
    path.chmod(0o644)
    return path


def _read_only_copy(demo_home: Path, target: Path) -> Path:
    shutil.copytree(demo_home, target)
    for path in (target, *target.rglob("*")):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return target


def _scratch(root: Path, user: User) -> dict[str, str]:
    """A HOME and TMPDIR the child may write (a read-only home needs a working copy somewhere)."""
    home, tmp = root / "user", root / "tmp"
    writable_by(user, home, tmp)
    return {"HOME": str(home), "TMPDIR": str(tmp)}


def _reads_and_refuses_writes(home: Path, root: Path, user: User) -> None:
    """stats and ask answer from the home; ingest is refused in one line naming it; nothing in it changes."""
    before = tree_state(home)
    env = cli_env(home, **_scratch(root, user))
    stats = run_cli(["stats", "--json"], env, user=user)
    stats.assert_no_traceback()
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["articles"] == 23

    asked = run_cli(["ask", QUESTION, "--today", DEMO_TODAY.date().isoformat()], env, user=user)
    asked.assert_no_traceback()
    assert asked.code == 0, asked.err
    assert "Sources:" in asked.out

    new = _new_article(root / "in")
    ingested = run_cli(["ingest", str(new)], env, user=user)
    ingested.assert_no_traceback()
    assert ingested.code == 1
    (line,) = ingested.error_lines
    assert line.startswith(f"briefbot: {home}") and "read-only" in line and "BRIEFBOT_HOME" in line

    assert tree_state(home) == before
    assert list((root / "tmp").iterdir()) == []  # the working copy of the vector store is gone


def test_a_home_this_user_may_not_write_is_read_and_never_written(
    demo_home: Path, open_tmp: Path, unprivileged: User
) -> None:
    home = _read_only_copy(demo_home, open_tmp / "home")
    _reads_and_refuses_writes(home, open_tmp, unprivileged)


class Mounts:
    """Mounts made by one test, undone after it."""

    def __init__(self, folder: Path) -> None:
        self.point = folder
        self.mounted = False

    def mount(self, *args: str) -> None:
        done = subprocess.run(["mount", *args, str(self.point)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount here: {done.stderr.strip()}")
        self.mounted = True

    def remount_read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(self.point)], capture_output=True, check=True)

    def undo(self) -> None:
        if not self.mounted:
            return
        done = subprocess.run(["umount", str(self.point)], capture_output=True, text=True, check=False)
        if done.returncode != 0:  # something still holds it: detach it now, it goes when released
            subprocess.run(["umount", "--lazy", str(self.point)], capture_output=True, check=False)
        assert done.returncode == 0, f"the test left {self.point} busy: {done.stderr}"


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Mounts]:
    """An empty folder to mount on, unmounted afterwards; skips where this process may not mount."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only or full file system needs root and mount(8)")
    target = tmp_path / "mnt"
    target.mkdir()
    m = Mounts(target)
    try:
        yield m
    finally:
        m.undo()


def test_a_read_only_mount_is_read_and_never_written(demo_home: Path, open_tmp: Path, mounts: Mounts) -> None:
    source = open_tmp / "snapshot"
    shutil.copytree(demo_home, source)
    mounts.mount("--bind", "-o", "ro", str(source))
    if os.access(mounts.point, os.W_OK):  # older mount(8) binds read-write and needs a remount
        mounts.remount_read_only()
    assert not os.access(mounts.point, os.W_OK)
    _reads_and_refuses_writes(mounts.point, open_tmp, User())


def test_a_full_disk_fails_in_one_line_and_leaves_the_home_intact(
    demo_home: Path, tmp_path: Path, mounts: Mounts
) -> None:
    mounts.mount("-t", "tmpfs", "-o", "size=4m", "tmpfs")
    mount_point = mounts.point
    home = mount_point / "home"
    shutil.copytree(demo_home, home)
    filler = mount_point / "filler"
    with filler.open("wb") as f:  # leave room to open the archive, not to store 40 more articles
        while (free := shutil.disk_usage(mount_point).free) > 256 * 1024:
            f.write(b"\0" * min(free - 256 * 1024 + 4096, 1 << 20))
            f.flush()
    articles = tmp_path / "in"
    for n in range(40):
        _new_article(articles, f"{n:02d}.md", n)
    env = cli_env(home, TMPDIR=str(tmp_path))

    run = run_cli(["ingest", str(articles)], env)
    run.assert_no_traceback()
    assert run.code == 1
    (line,) = run.error_lines
    assert line.startswith(f"briefbot: {home}") and "disk is full" in line

    filler.unlink()
    stats = run_cli(["stats", "--json"], env)
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["articles"] == 23
    with closing(sqlite3.connect(home / "catalog.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- the same, in process, where nothing can be mounted ------------------------------------------------------


def _record(n: int) -> ArticleRecord:
    return ArticleRecord(
        url=f"https://e.com/{n}",
        title=f"Story {n}",
        text=f"Story number {n} happened on the quay. " * 3,
        published=None,
        source="e.com",
        author=None,
        origin=f"test:{n}",
    )


def test_a_full_catalog_is_a_storage_error_and_keeps_what_was_stored(briefbot_home: Path) -> None:
    from index.errors import StorageError

    with Archive(Settings(home=briefbot_home)) as archive:
        assert ingest(archive, [_record(1)]).added == 1
        db = archive.catalog.db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full" from here on
        with pytest.raises(StorageError, match="disk is full") as info:
            ingest(archive, [_record(n) for n in range(2, 40)])
        assert str(info.value).startswith(str(briefbot_home / "catalog.sqlite3"))
        assert "\n" not in str(info.value)
        assert archive.catalog.counts()[0] == 1
        db.execute("PRAGMA max_page_count = 1073741823")
        assert ingest(archive, [_record(2)]).added == 1  # the archive is usable again once there is room


def test_a_vector_store_that_cannot_write_is_a_storage_error(
    briefbot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.errors import InternalError

    from index.errors import StorageError

    with Archive(Settings(home=briefbot_home)) as archive:
        collection = archive.store.collection

        def full(*args: object, **kwargs: object) -> None:
            raise InternalError("Database error: error returned from database: (code: 13) database or disk is full")

        monkeypatch.setattr(collection, "upsert", full)
        with pytest.raises(StorageError, match="disk is full"):
            archive.store.upsert(["x"], np.zeros((1, 384), dtype=np.float32), [{"article_id": "a"}])


def test_a_read_only_archive_refuses_writes(demo_home: Path, tmp_path: Path) -> None:
    from index.errors import StorageError

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    with Archive(Settings(home=home), read_only=True) as archive:
        assert archive.stats().articles == 23
        with pytest.raises(StorageError, match="read-only"):
            ingest(archive, [_record(1)])
        with pytest.raises(StorageError, match="read-only"):
            FeedRegistry(archive.catalog.db).add("https://news.example/feed.xml")
    with Archive(Settings(home=home)) as archive:
        assert FeedRegistry(archive.catalog.db).list() == [] and archive.catalog.counts()[0] == 23
