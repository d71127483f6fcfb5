"""The ``briefbot`` command group and what its commands share: settings, the archive, option parsing, progress
bars, JSON output, and the one place errors become a line on stderr and an exit code.

Exit codes: 0 all went well; 1 some item failed (the others still went in) or an operation failed; 2 usage or
configuration errors.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.settings import Settings, load_settings
from index.archive import Archive
from index.errors import BriefbotError
from index.timewin import parse_since, parse_today

log = logging.getLogger("briefbot")


def setup_logging(verbose: int = 0) -> None:
    """Log to stderr; httpx logs every request URL (with the bot token in it) at INFO, so it stays at WARNING."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in (
        "httpx",
        "httpcore",
        "chromadb",
        "trafilatura",
        "htmldate",
        "courlan",
        "apscheduler",
        "openai",
    ):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"briefbot: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns our errors into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BriefbotError as exc:
            fail(str(exc), exc.exit_code)
        except BrokenPipeError:  # `briefbot stats | head -3`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
            sys.exit(141)
        except OSError as exc:  # a home that is a file, a full disk, a read-only folder: one line, not a traceback
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            fail("interrupted", 130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """briefbot: a self-hosted Telegram news briefing bot over your own news archive.

    State lives in BRIEFBOT_HOME (default ./data). Settings come from BRIEFBOT_* environment variables or
    briefbot.toml; `briefbot config` lists them.
    """
    setup_logging(verbose)
    ctx.ensure_object(dict)


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
    settings: Settings = obj["settings"]
    return settings


@contextmanager
def open_archive(ctx: click.Context, *, check_model: bool = True) -> Iterator[Archive]:
    archive = Archive(settings_of(ctx), check_model=check_model)
    try:
        yield archive
    finally:
        archive.close()


class Bar:
    """One progress bar of ``progress_bar``: ``step(done, total)`` (``total`` None while unknown)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.task = progress, progress.add_task(label, total=None)

    def step(self, done: int, total: int | None = None, *, label: str | None = None) -> None:
        self.progress.update(self.task, completed=done, total=total, description=label)


@contextmanager
def progress_bar(label: str) -> Iterator[Bar]:
    """A progress bar on stderr for long work (rich), drawn only when stderr is a terminal."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as progress:
        yield Bar(progress, label)


def print_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


def date_option(value: str | None) -> datetime | None:
    """``--today``: a calendar date (YYYY-MM-DD) far enough from the calendar's ends for a week around it."""
    if value is None:
        return None
    try:
        return parse_today(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--today") from None


def time_option(value: str | None, now: datetime, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def outlets(archive: Archive, names: Sequence[str]) -> tuple[str, ...]:
    """``--source`` values as the archive spells its outlets (any case); an unknown one is a usage error that
    lists the outlets there are."""
    known = {o.casefold(): o for o in archive.catalog.sources()}
    out = []
    for name in names:
        if name.strip().casefold() not in known:
            listed = ", ".join(sorted(known.values())) or "none yet"
            raise click.BadParameter(f"no outlet {name!r} in the archive (outlets: {listed})", param_hint="--source")
        out.append(known[name.strip().casefold()])
    return tuple(out)
