"""The briefbot CLI in a child process, as a user meets it: its exit code, its output, its peak memory, and
optionally as an unprivileged user (root ignores file permissions, so permission probes need another user)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs the command given after it and reports the peak resident memory of its children (in KiB on Linux): the
# CLI is this wrapper's only child, so the figure is the CLI's own.
_PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


@dataclass
class Run:
    code: int
    out: str
    err: str
    peak_rss: int = 0  # bytes; 0 when not measured

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err


@dataclass(frozen=True)
class User:
    """Who the child runs as: ``uid`` None means as ourselves."""

    uid: int | None = None
    gid: int | None = None

    def command(self, command: list[str]) -> list[str]:
        """``command`` as run by this user. setpriv, not ``Popen(user=...)``: it changes user at exec time, so
        the interpreter may live where only root can reach (pyenv under /root); after exec the child has no
        privilege left."""
        if self.uid is None:
            return command
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *command]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child CLI: its own home, no settings from the developer's environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BRIEFBOT_") and k not in {"TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(
        BRIEFBOT_HOME=str(home),
        BRIEFBOT_CONFIG=str(home.parent / "no-such-briefbot.toml"),
        PYTHONPATH=str(REPO),  # the code of this checkout, whatever the installed package points at
        NO_PROXY="127.0.0.1,localhost,::1",
        no_proxy="127.0.0.1,localhost,::1",
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], *, user: User | None = None, peak: bool = False, timeout: float = 120
) -> Run:
    """``briefbot ARGS`` in a child process (``python -m bot.cli``)."""
    command = [sys.executable, "-m", "bot.cli", *args]
    if peak:
        command = [sys.executable, "-c", _PEAK, *command]
    result = subprocess.run(
        (user or User()).command(command),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    err, rss = result.stderr, 0
    if peak:
        lines = err.rstrip("\n").split("\n")
        assert lines[-1].startswith("peak-rss-kib "), err
        rss = int(lines[-1].split()[1]) * 1024
        err = "\n".join(lines[:-1])
    return Run(result.returncode, result.stdout, err, rss)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder another user can reach (pytest's own is private to us); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="briefbot-hostile-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):  # give back what a test took away, so it can be removed
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IRWXU)
        shutil.rmtree(folder)


@pytest.fixture(scope="session")
def unprivileged() -> User:
    """Who to run permission probes as: ourselves when we are not root, else ``nobody`` (root ignores file
    permissions, so as root a permission probe would prove nothing)."""
    if os.geteuid() != 0:
        return User()
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no 'nobody' user to see file permissions as a user would")
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv(1) to run the CLI as 'nobody'")
    user = User(entry.pw_uid, entry.pw_gid)
    probe = subprocess.run(
        user.command([sys.executable, "-c", "import click, sqlite3, chromadb"]),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"'nobody' cannot run this Python: {probe.stderr.strip()[-200:]}")
    return user


def writable_by(user: User, *paths: Path) -> None:
    """Let ``user`` write these folders (the child's scratch space)."""
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        if user.uid is not None:
            os.chown(path, user.uid, user.gid if user.gid is not None else -1)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means untouched."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
