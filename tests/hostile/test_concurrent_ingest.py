"""Two ingests of the same articles into one home at once (issue 9, item 6): both printed "N added" and both
embedded everything. The second must wait for the first, then find the articles stored: unchanged, nothing
embedded, and say so."""

from __future__ import annotations

import fcntl
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.db import connect, migrate
from tests.hostile.cli_process import REPO, cli_env

ARTICLES = 30


def _waiting_on_a_lock(pids: set[int]) -> set[int]:
    """Which of ``pids`` wait for a file lock (/proc/locks lists waiters with "->")."""
    waiting = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and int(fields[5]) in pids:
            waiting.add(int(fields[5]))
    return waiting


def test_the_second_of_two_concurrent_ingests_waits_and_finds_everything_unchanged(tmp_path: Path) -> None:
    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks to see that both runs are waiting")
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(ARTICLES):
        (folder / f"{n:02d}.md").write_text(
            f"# Tide report {n}\n\nThe tide at Skarvik on day {n} reached {100 + n} centimetres, the harbour "
            "office said.\n",
            encoding="utf-8",
        )
    home = tmp_path / "home"  # a new home: both runs create it at once
    home.mkdir()
    env = cli_env(home)
    command = [sys.executable, "-m", "bot.cli", "ingest", "--json", str(folder)]
    with open(home / "write.lock", "a") as held:
        # Hold the home's write lock while both start, so both reach it before either has written anything.
        fcntl.flock(held, fcntl.LOCK_EX)
        runs = [
            subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        pids = {run.pid for run in runs}
        deadline = time.monotonic() + 60
        while _waiting_on_a_lock(pids) != pids:
            if time.monotonic() > deadline or any(run.poll() is not None for run in runs):
                for run in runs:  # one is still waiting for the lock we hold: stop it before reading its output
                    run.kill()
                pytest.fail(f"both ingests should wait for the write lock: {[run.communicate() for run in runs]}")
            time.sleep(0.05)
        fcntl.flock(held, fcntl.LOCK_UN)
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    reports = [json.loads(out) for out, _ in results]
    assert sorted(r["added"] for r in reports) == [0, ARTICLES], reports
    first, second = sorted(reports, key=lambda r: -r["added"])
    assert (first["added"], first["unchanged"], first["embedded"]) == (ARTICLES, 0, ARTICLES)
    assert (second["added"], second["unchanged"], second["embedded"]) == (0, ARTICLES, 0)
    assert second["passages_written"] == 0
    assert first["articles"] == second["articles"] == ARTICLES


def test_a_migration_another_connection_applied_meanwhile_is_skipped(tmp_path: Path) -> None:
    # Two processes opening a new home both read schema version 0; the second to get SQLite's write lock found
    # the tables made ("table ... already exists") and died with a traceback.
    migrations = ["CREATE TABLE notes (text TEXT);", "CREATE TABLE tags (name TEXT);"]
    path = tmp_path / "new.sqlite3"
    first, second = connect(path), connect(path)
    errors: list[BaseException] = []
    second.execute("BEGIN IMMEDIATE")  # the other process holds the write lock while it migrates
    late = threading.Thread(target=lambda: _migrate_or_record(first, migrations, errors))
    late.start()  # reads version 0, then waits for the lock
    time.sleep(0.5)
    for number, sql in enumerate(migrations, start=1):
        second.execute(sql)
        second.execute(f"PRAGMA user_version = {number}")
    second.execute("COMMIT")
    late.join(timeout=30)
    assert not late.is_alive() and errors == []
    assert first.execute("PRAGMA user_version").fetchone()[0] == 2
    first.close()
    second.close()


def _migrate_or_record(db: sqlite3.Connection, migrations: list[str], errors: list[BaseException]) -> None:
    try:
        migrate(db, migrations)
    except BaseException as exc:
        errors.append(exc)
