"""Folders a careless user points at: unreadable ones (issue 9, item 5), symlink loops, ten thousand files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from index.article import ArticleRecord
from index.errors import SourceError
from index.settings import IndexSettings
from index.sources import read_sources
from tests.hostile.cli_process import User, cli_env, open_tmp, run_cli, unprivileged, writable_by

__all__ = ["open_tmp", "unprivileged"]


def _note(path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\nThe harbour office said the quay reopens on Monday after repairs.\n", "utf-8")
    return path


def test_an_unreadable_folder_is_permission_denied_and_the_rest_goes_in(open_tmp: Path, unprivileged: User) -> None:
    locked = open_tmp / "locked"
    _note(locked / "inside.md", "Never read")
    mixed = open_tmp / "mixed"
    _note(mixed / "secret" / "inside.md", "Never read either")
    _note(mixed / "note.md", "Quay reopens")
    for path in (open_tmp, mixed, *open_tmp.rglob("*.md")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    locked.chmod(0o000)
    (mixed / "secret").chmod(0o000)
    home = open_tmp / "home"
    writable_by(unprivileged, home, open_tmp / "user")
    env = cli_env(home, HOME=str(open_tmp / "user"))

    run = run_cli(["ingest", "--json", str(locked), str(mixed)], env, user=unprivileged)
    run.assert_no_traceback()
    assert run.code == 1
    report = json.loads(run.out)
    assert report["added"] == 1
    assert {f["source"]: f["error"] for f in report["failed"]} == {
        str(locked): "cannot read: Permission denied",
        str(mixed / "secret"): "cannot read: Permission denied",
    }


def test_a_symlink_loop_in_a_folder_ends(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _note(folder / "a" / "story.md", "Loop")
    (folder / "a" / "again").symlink_to(folder)  # a folder that contains itself
    (folder / "self.md").symlink_to(folder / "self.md")  # a file that is a link to itself
    (folder / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    started = time.monotonic()
    items = list(read_sources([str(folder)], IndexSettings()))
    assert time.monotonic() - started < 10
    assert [i.title for i in items if isinstance(i, ArticleRecord)] == ["Loop"]
    assert not [i for i in items if isinstance(i, SourceError)]


def test_ten_thousand_small_files_are_read_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for n in range(10_000):
        sub = folder / f"{n // 1000:02d}"
        if n % 1000 == 0:
            sub.mkdir(parents=True)
        (sub / f"{n:05d}.txt").write_text(f"Note {n}\n\nShort note number {n}.\n", "utf-8")
    started = time.monotonic()
    items = list(read_sources([str(folder)], IndexSettings()))
    seconds = time.monotonic() - started
    assert len(items) == 10_000 and all(isinstance(i, ArticleRecord) for i in items)
    assert [i.title for i in items[:2]] == ["Note 0", "Note 1"] and items[-1].title == "Note 9999"
    assert seconds < 30, f"{seconds:.1f}s to read 10,000 small files"
