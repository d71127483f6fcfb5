"""Bad records beside good ones: an article far too long (issue 9, item 7), a truncated JSON line (item 9),
bytes that are not UTF-8. Each is one error naming the item; the others go in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.article import ArticleRecord
from index.errors import SourceError
from index.settings import IndexSettings
from index.sources import read_sources


def _row(n: int, text: str) -> str:
    return json.dumps({"url": f"https://e.com/{n}", "title": f"Story {n}", "text": text})


def test_max_article_chars_is_a_described_setting_of_200_000() -> None:
    field = IndexSettings.model_fields["max_article_chars"]
    assert IndexSettings().max_article_chars == 200_000
    assert field.description and "refused" in field.description


def test_an_article_over_max_article_chars_is_refused_and_the_others_go_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_MAX_ARTICLE_CHARS", "5000")
    path = tmp_path / "export.jsonl"
    rows = [
        _row(1, "The quay reopened on Monday."),
        _row(2, "word " * 2000),  # 9,999 characters
        _row(3, "The ferry runs again."),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", "--json", str(path)], catch_exceptions=False)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["added"] == 2 and report["articles"] == 2 and report["passages"] == 2
    assert report["failed"] == [
        {
            "source": f"{path}:2",
            "error": "article too long (https://e.com/2): 9,999 characters, over 5,000 (max_article_chars)",
        }
    ]


def _items(path: Path) -> list[ArticleRecord | SourceError]:
    return list(read_sources([str(path)], IndexSettings()))


def test_a_truncated_json_line_says_which_line_and_that_it_is_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    whole = _row(1, "The quay reopened on Monday.")
    path.write_text(f"{whole}\n{_row(2, 'The ferry')[:40]}\n{_row(3, 'Gulls are back.')}\n{whole[:30]}", "utf-8")
    items = _items(path)
    assert [i.url for i in items if isinstance(i, ArticleRecord)] == ["https://e.com/1", "https://e.com/3"]
    assert [(e.source, e.reason) for e in items if isinstance(e, SourceError)] == [
        (f"{path}:2", "invalid JSON (line 2 is truncated: it ends before its record does)"),
        (f"{path}:4", "invalid JSON (line 4 is truncated: it ends before its record does)"),
    ]


def test_a_malformed_json_line_says_which_line_and_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{_row(1, "Fine.")}\n{{"url": "https://e.com/2" "text": "x"}}\n', "utf-8")
    (error,) = [i for i in _items(path) if isinstance(i, SourceError)]
    assert error.source == f"{path}:2"
    assert error.reason == "invalid JSON (line 2 is malformed: Expecting ',' delimiter at column 27)"


def test_bytes_that_are_not_utf8_are_one_error_or_decoded(tmp_path: Path) -> None:
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_bytes(_row(1, "Fine.").encode() + b'\n{"url": "https://e.com/2", "text": "caf\xe9 \xff\xfe"}\n')
    items = _items(jsonl)
    assert [i.url for i in items if isinstance(i, ArticleRecord)] == ["https://e.com/1"]
    assert [(e.source, e.reason) for e in items if isinstance(e, SourceError)] == [
        (f"{jsonl}:2", "line is not UTF-8 text")
    ]
    text = tmp_path / "latin.txt"  # not UTF-8, but text: decoded by a guess at its encoding, not refused
    text.write_bytes("Caf\xe9 reopens\n\nThe caf\xe9 on the quay reopened on Monday, na\xefvely.\n".encode("latin-1"))
    (record,) = _items(text)
    assert isinstance(record, ArticleRecord) and record.title.startswith("Caf") and "reopened" in record.text
