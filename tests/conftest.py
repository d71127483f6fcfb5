"""Shared fixtures. Every test gets its own BRIEFBOT_HOME: tests never touch the user's data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Local servers only: proxies must never see 127.0.0.1 traffic.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"


@pytest.fixture(autouse=True)
def briefbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home per test, and no settings leaking in from the developer's environment."""
    for key in list(os.environ):
        if key.startswith("BRIEFBOT_") or key in {"TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"}:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("BRIEFBOT_HOME", str(home))
    monkeypatch.setenv("BRIEFBOT_CONFIG", str(tmp_path / "no-such-briefbot.toml"))
    yield home


DEMO_TODAY = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus ingested once per test session (dated so its newest article is DEMO_TODAY).

    Copy it before writing to it: tests share it.
    """
    from bot.demo import demo_records
    from bot.settings import Settings
    from index.archive import Archive
    from index.ingest import ingest

    home = tmp_path_factory.mktemp("demo") / "home"
    settings = Settings(home=home)
    archive = Archive(settings)
    report = ingest(archive, demo_records(settings, now=DEMO_TODAY))
    assert report.failed == [] and report.added >= 20
    archive.close()
    return home


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED


from tests.fakes.web import web_server  # noqa: E402,F401  (the local HTTP server fixture)


@pytest.fixture
def shared_data_or_none() -> Path | None:
    """../shared/data when present (for optional cross-checks), else None."""
    return SHARED if SHARED.is_dir() else None
