"""Backup while an ingest runs, restore into a fresh home: the restored home answers as the source did at the
backup; restore refuses what it must."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.settings import Settings
from bot.state import State
from index.archive import Archive
from index.backup import MANIFEST, backup, restore

TOWNS = [
    "Arvik",
    "Brenna",
    "Calder",
    "Dunmoor",
    "Elsby",
    "Fenwick",
    "Garrow",
    "Holm",
    "Islay",
    "Jorvik",
    "Kell",
    "Lunde",
]

# A real ingest in another process, 12 articles in batches of 3, that stops after its second batch until told to
# go on: "between" stops between two batches (outside the commit lock), "inside" in the middle of the second batch.
INGEST = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    import index.ingest as ing
    from bot.settings import Settings
    from index.archive import Archive
    from index.article import ArticleRecord
    from index.store import VectorStore

    flags, where = Path(sys.argv[1]), sys.argv[2]
    towns = sys.argv[3].split(",")

    def wait():
        (flags / "paused").write_text("x")
        deadline = time.monotonic() + 120
        while not (flags / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    calls = upserts = 0
    real_write, real_upsert = ing._write, VectorStore.upsert
    def write(*a, **k):
        global calls
        real_write(*a, **k)
        calls += 1
        if calls == 2 and where == "between":
            wait()
    def upsert(*a, **k):
        global upserts
        real_upsert(*a, **k)
        upserts += 1
        if upserts == 2 and where == "inside":
            wait()  # mid-batch: the second batch's vectors are in Chroma, its articles not yet in the catalog
    ing._write, VectorStore.upsert = write, upsert
    recs = [ArticleRecord(url=f"https://towns.example/{t}", title=f"{t} opens its winter market",
                          text=f"The winter market of {t} opened on Saturday with {10 + i} stalls. "
                               f"“{t} has never had so many visitors,” said mayor Nils {t}son.",
                          published=datetime(2026, 11, 10 + i, tzinfo=UTC), source="Towns Weekly")
            for i, t in enumerate(towns)]
    archive = Archive(Settings())
    report = ing.ingest(archive, recs, batch_articles=3)
    print(report.added)
    """
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _start_ingest(flags: Path, where: str) -> subprocess.Popen[str]:
    flags.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST, str(flags), where, ",".join(TOWNS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not (flags / "paused").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the ingest never paused: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    return proc


def _finish(proc: subprocess.Popen[str], flags: Path) -> None:
    (flags / "go").write_text("go")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert out.split() == [str(len(TOWNS))]


def _ask(town: str) -> dict[str, object]:
    code, out, err = run(
        "ask", "--json", "--today", "2026-11-29", f"What did the mayor of {town} say about the market?"
    )
    assert code == 0, err
    answer = json.loads(out)
    return {"answer": answer["answer"], "urls": [c["url"] for c in answer["citations"]]}


def _consistent(home: Path) -> tuple[int, int]:
    with Archive(Settings(home=home)) as archive:
        articles, passages = archive.catalog.counts()
        assert archive.store.count() == passages and archive.catalog.journal() == []
        db = archive.catalog.db
        assert (
            db.execute("SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM passages)").fetchone()[0]
            == 0
        )
        return articles, passages


def test_a_backup_during_an_ingest_restores_to_a_home_that_answers_as_the_source_did(
    briefbot_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = State(briefbot_home / "state.sqlite3")
    state.add_turn(42, None, "What opened in Arvik?", "The winter market.")
    state.close()
    flags, dest = tmp_path / "flags", tmp_path / "backup"
    proc = _start_ingest(flags, "between")
    try:
        # The ingest holds the write lock for its whole run: the backup does not wait for it to end.
        code, out, err = run("backup", str(dest), "--json")
        assert code == 0, err
        manifest = json.loads(out)
        code, out, _ = run("stats", "--json")
        source_stats = json.loads(out)
        source_answers = {t: _ask(t) for t in ("Arvik", "Fenwick", "Garrow")}
    finally:
        _finish(proc, flags)
    assert manifest["counts"]["articles"] == 6  # two batches of three, as of the pause
    assert manifest["counts"]["passages"] == manifest["counts"]["vectors"] == source_stats["passages"]
    assert source_stats["articles"] == 6
    assert json.loads((dest / MANIFEST).read_text())["format"] == "briefbot-backup"
    assert set(manifest["databases"]) == {"catalog.sqlite3", "state.sqlite3"} and (dest / "chroma").is_dir()

    restored = tmp_path / "restored"
    monkeypatch.setenv("BRIEFBOT_HOME", str(restored))
    code, out, err = run("restore", str(dest))
    assert code == 0, err
    assert "restored 6 articles" in out
    code, out, _ = run("stats", "--json")
    assert json.loads(out) == source_stats
    assert _consistent(restored) == (6, manifest["counts"]["passages"])
    assert {t: _ask(t) for t in ("Arvik", "Fenwick", "Garrow")} == source_answers
    assert "towns.example/Arvik" in str(source_answers["Arvik"]["urls"])
    assert not any("Garrow" in url for url in source_answers["Garrow"]["urls"])  # ingested after the backup
    restored_state = State(restored / "state.sqlite3")
    assert [t.question for t in restored_state.turns(42, None, 5)] == ["What opened in Arvik?"]
    restored_state.close()
    monkeypatch.setenv("BRIEFBOT_HOME", str(briefbot_home))
    assert _consistent(briefbot_home)[0] == len(TOWNS)  # the source went on to finish its ingest


def test_a_backup_waits_for_the_batch_in_hand_and_never_copies_half_of_one(briefbot_home: Path, tmp_path: Path) -> None:
    flags, dest = tmp_path / "flags", tmp_path / "backup"
    proc = _start_ingest(flags, "inside")  # paused in the middle of its second batch, holding the commit lock
    result: dict[str, object] = {}
    archive = Archive(Settings())  # opened while the ingest is paused mid-batch

    def back_up() -> None:
        result["manifest"] = backup(archive, dest).manifest

    thread = threading.Thread(target=back_up)
    try:
        thread.start()
        thread.join(timeout=5)  # a backup that did not wait for the batch would be done by now, with half of it
    finally:
        _finish(proc, flags)
        thread.join(timeout=120)
        archive.close()
    manifest = result["manifest"]
    assert isinstance(manifest, dict)
    counts = manifest["counts"]
    # Whole batches, the one that was in hand included, and the vectors of exactly those articles.
    assert counts["articles"] >= 6 and counts["articles"] % 3 == 0 and counts["passages"] == counts["vectors"]
    copy = sqlite3.connect(dest / "catalog.sqlite3")
    assert copy.execute("SELECT count(*) FROM chroma_journal").fetchone()[0] == 0  # no write was in flight
    copy.close()
    restored = tmp_path / "restored"
    restore(Settings(home=restored), dest)
    assert _consistent(restored) == (counts["articles"], counts["passages"])


def test_restore_refuses_a_home_that_is_not_empty_and_a_folder_that_is_no_backup(
    briefbot_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("stats")[0] == 0  # creates the (empty) archive
    dest = tmp_path / "backup"
    assert run("backup", str(dest))[0] == 0

    code, out, err = run("restore", str(dest))  # into the home it came from
    assert code == 2 and "not empty" in err and "Traceback" not in err and out == ""
    code, _, err = run("backup", str(dest))
    assert code == 2 and "not an empty folder" in err
    code, _, err = run("backup", str(briefbot_home / "inside"))
    assert code == 2 and "outside" in err

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "notes.txt").write_text("mine")
    monkeypatch.setenv("BRIEFBOT_HOME", str(fresh))
    code, _, err = run("restore", str(dest))
    assert code == 2 and "not empty" in err and [p.name for p in fresh.iterdir()] == ["notes.txt"]
    (fresh / "notes.txt").unlink()
    fresh.rmdir()
    no_backup = tmp_path / "nothing"
    no_backup.mkdir()
    (no_backup / "catalog.sqlite3").write_bytes(b"")
    code, _, err = run("restore", str(no_backup))
    assert code == 2 and "not a briefbot backup" in err
    (no_backup / MANIFEST).write_text("{broken")
    code, _, err = run("restore", str(no_backup))
    assert code == 2 and "not a briefbot backup manifest" in err
    (no_backup / MANIFEST).write_text(json.dumps({"format": "something-else", "version": 1}))
    assert run("restore", str(no_backup))[0] == 2
    code, _, err = run("restore", str(tmp_path / "missing"))
    assert code == 2 and "no such folder" in err
    manifest = json.loads((dest / MANIFEST).read_text())
    (dest / "state.sqlite3").unlink(missing_ok=True)
    (dest / "catalog.sqlite3").unlink()
    code, _, err = run("restore", str(dest))
    assert code == 2 and "catalog.sqlite3 is missing" in err
    assert not fresh.exists()  # nothing was written for a refused restore
    assert manifest["counts"] == {"articles": 0, "passages": 0, "vectors": 0}
