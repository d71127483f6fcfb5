"""README's "Running it for real" as an operator copies it: the systemd unit is a valid unit that runs a real
briefbot command and restarts on failure, and every variable of its environment file is a setting briefbot
knows and accepts."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.settings import Settings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Running it for real")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def block(language: str) -> str:
    [found] = re.findall(rf"```{language}\n(.*?)```", section(), flags=re.S)
    return str(found)


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(block("ini"))
    return parser


def test_the_unit_runs_the_bot_and_restarts_it_on_failure() -> None:
    parsed = unit()
    assert parsed.sections() == ["Unit", "Service", "Install"]
    service = parsed["Service"]
    assert service["Restart"] == "on-failure" and float(service["RestartSec"]) > 0
    assert Path(service["EnvironmentFile"]).is_absolute() and Path(service["WorkingDirectory"]).is_absolute()
    assert re.fullmatch(r"BRIEFBOT_HOME=/\S+", service["Environment"])
    assert parsed["Install"]["WantedBy"] == "multi-user.target"

    program, *args = shlex.split(service["ExecStart"])
    assert Path(program).is_absolute() and Path(program).name == "briefbot"
    # The arguments are a command this briefbot has, with options it takes: with --help it shows that command.
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Run the Telegram bot" in result.output


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the parse above still runs everywhere
        pytest.skip("systemd-analyze is not installed here")
    briefbot = Path(sys.executable).with_name("briefbot")
    text = block("ini").replace("/opt/briefbot/.venv/bin/briefbot", str(briefbot))
    path = tmp_path / "briefbot.service"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([analyze, "verify", "--man=no", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "briefbot.service" not in result.stderr, result.stderr  # no warning about our unit


def test_every_variable_of_the_environment_file_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    values = dict(line.split("=", 1) for line in block("sh").splitlines() if line and not line.startswith("#"))
    known = {f"BRIEFBOT_{name.upper()}" for name in Settings.model_fields} | {"TELEGRAM_BOT_TOKEN"}
    assert set(values) <= known, set(values) - known
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # every value is valid: a bad one would be a ConfigError naming it
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == values["TELEGRAM_BOT_TOKEN"]
    assert [str(i) for i in settings.admins] == values["BRIEFBOT_ADMINS"].split(",")
    assert settings.retention_days == int(values["BRIEFBOT_RETENTION_DAYS"])
    assert "BRIEFBOT_HOME" not in values  # the unit's own Environment= line sets the home
