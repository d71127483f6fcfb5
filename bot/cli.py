"""The ``briefbot`` command line. Commands are thin: they call the same services the Telegram bot calls.

Exit codes: 0 all went well; 1 some item failed (the others still went in) or an operation failed; 2 usage or
configuration errors.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

import click

from bot.settings import Settings, load_settings
from index.errors import BriefbotError

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
def open_archive(ctx: click.Context, *, check_model: bool = True) -> Iterator[Any]:
    from index.archive import Archive

    archive = Archive(settings_of(ctx), check_model=check_model)
    try:
        yield archive
    finally:
        archive.close()


class Progress:
    """A one-line counter on stderr for long runs, only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, every: float = 0.5) -> None:
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < self.every):
            return
        self.last = now
        rate = ""
        self.stream.write(f"\r{self.label}: {text}{rate} [{now - self.started:.0f}s]\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def print_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


# -- ingest ----------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Ingest articles from files, folders, web pages and RSS/Atom feeds.

    SOURCES are paths (.txt, .md, .html, .json, .jsonl, .jsonl.gz, feed .xml/.rss/.atom, .opml; folders are read
    recursively) or http(s) URLs of pages or feeds. Unchanged articles are skipped without re-embedding; one bad
    source never stops the others. Exit 1 when any item failed.
    """
    from index.ingest import IngestReport
    from index.ingest import ingest as run_ingest
    from index.sources import read_sources

    settings = settings_of(ctx)
    progress = Progress("ingest")

    def show(r: IngestReport) -> None:
        done = r.added + r.updated + r.unchanged + len(r.failed)
        progress.update(f"{done} items, {r.added} added, {r.updated} updated, {len(r.failed)} failed")

    with open_archive(ctx) as archive:
        report = run_ingest(archive, read_sources(sources, settings), progress=show)
        progress.close()
        if as_json:
            print_json(report.as_json(archive))
        else:
            for err in report.failed:
                click.echo(f"failed: {err.source}: {err.reason}", err=True)
            articles, passages = archive.catalog.counts()
            click.echo(
                f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged"
                f"{f' ({report.duplicates} duplicates)' if report.duplicates else ''}, {len(report.failed)} failed"
                f" in {report.seconds:.1f}s; the archive holds {articles} articles in {passages} passages"
            )
    if report.failed:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """What the archive holds: articles, passages, outlets, date range, embedding model."""
    with open_archive(ctx) as archive:
        st = archive.stats()
    if as_json:
        print_json(st.as_json())
        return
    click.echo(f"{st.articles} articles in {st.passages} passages ({st.vectors} vectors)")
    click.echo(f"embedding model: {st.embedding_model}")
    if st.oldest and st.newest:
        click.echo(f"dates: {st.oldest.date()} .. {st.newest.date()}")
    for outlet, n in list(st.sources.items())[:20]:
        click.echo(f"  {n:6d}  {outlet}")
    if len(st.sources) > 20:
        click.echo(f"  ... and {len(st.sources) - 20} more outlets")


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Re-embed every passage with the configured embedding model (BRIEFBOT_EMBEDDING_MODEL)."""
    from index.ingest import reindex as run_reindex

    progress = Progress("reindex")
    with open_archive(ctx, check_model=False) as archive:
        n = run_reindex(archive, progress=lambda done, total: progress.update(f"{done}/{total} passages"))
    progress.close()
    click.echo(f"re-embedded {n} passages with {settings_of(ctx).embedding_model}")


# -- feeds -----------------------------------------------------------------------------------------------------
@cli.group()
def feeds() -> None:
    """Registered feeds, polled by `briefbot poll` and by the bot on an interval."""


def _registry(archive: Any) -> Any:
    from index.feeds import FeedRegistry

    return FeedRegistry(archive.catalog.db)


@feeds.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_add(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Register feeds by URL (or an .opml file to import all its feeds)."""
    from index.feeds import import_opml

    with open_archive(ctx) as archive:
        reg = _registry(archive)
        for url in urls:
            if url.lower().endswith(".opml"):
                added = import_opml(reg, url)
                click.echo(f"imported {len(added)} feeds from {url}")
            else:
                reg.add(url)
                click.echo(f"added {url}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """List registered feeds with their last poll and failures."""
    with open_archive(ctx) as archive:
        rows = _registry(archive).list()
    if as_json:
        print_json([getattr(f, "__dict__", f) for f in rows])
        return
    if not rows:
        click.echo("no feeds registered: briefbot feeds add URL")
    for f in rows:
        state = "paused" if f.paused else "active"
        err = f" last error: {f.last_error}" if f.last_error else ""
        click.echo(f"{f.url}  [{state}, {f.failures} failures, last polled {f.last_polled or 'never'}]{err}")


@feeds.command("remove")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_remove(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Unregister feeds."""
    missing = False
    with open_archive(ctx) as archive:
        reg = _registry(archive)
        for url in urls:
            if reg.remove(url):
                click.echo(f"removed {url}")
            else:
                click.echo(f"briefbot: no such feed: {url}", err=True)
                missing = True
    if missing:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_context
def poll(ctx: click.Context, as_json: bool) -> None:
    """Poll every registered feed once (conditional GET) and ingest what is new."""
    from index.feeds import poll as poll_feeds
    from index.fetch import Fetcher
    from index.ingest import ingest as run_ingest

    settings = settings_of(ctx)
    with open_archive(ctx) as archive, Fetcher(settings) as fetcher:
        report = run_ingest(archive, poll_feeds(_registry(archive), fetcher, settings))
        if as_json:
            print_json(report.as_json(archive))
        else:
            for err in report.failed:
                click.echo(f"failed: {err.source}: {err.reason}", err=True)
            click.echo(f"{report.added} added, {report.updated} updated, {len(report.failed)} failed")
    if report.failed:
        sys.exit(1)


@cli.command("config")
@click.pass_context
def config_cmd(ctx: click.Context) -> None:
    """Show the settings in force (secrets masked) and what each one means."""
    settings = settings_of(ctx)
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        click.echo(f"{name} = {value!s}")
        if field.description:
            click.echo(f"    {field.description}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="briefbot")


if __name__ == "__main__":
    main()
