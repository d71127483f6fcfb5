"""The layers of the code (pyproject's import-linter contract) hold, and a deliberate upward import breaks them.

import-linter reads every import, those inside functions too, so no lazy import can hide a cycle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_is_kept() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for name in ("bot", "index", "prompts"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "data", "demo"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("bot/answering/verify.py", "from bot.digest import render_digest"),  # answering above digest
        ("bot/state.py", "from bot.answering import Answer"),  # state below every bot layer
        ("bot/digest/compose.py", "from bot.telegram.app import run_bot"),  # digest below the front doors
        ("index/chunk.py", "import bot.ask"),  # the index never imports bot
        ("bot/delivery/broadcast.py", "from bot.ask import Asker"),  # siblings stay independent
    ],
)
def test_an_upward_import_breaks_the_contract(copy_of_the_code: Path, module: str, upward: str) -> None:
    path = copy_of_the_code / module
    # Inside a function, where a lazy import would once have hidden it.
    path.write_text(path.read_text() + f"\n\ndef _sneaky() -> None:\n    {upward}  # noqa\n")
    result = lint(copy_of_the_code)
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout, result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout
