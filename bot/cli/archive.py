"""Commands on the archive itself: ingest, stats, reindex, registered feeds and polling, the settings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

import click

from bot.cli.app import cli, open_archive, print_json, progress_bar, settings_of
from index.archive import Archive
from index.feed_registry import FeedRegistry, import_opml
from index.feed_registry import poll as poll_feeds
from index.fetch import Fetcher
from index.ingest import IngestReport
from index.ingest import ingest as run_ingest
from index.ingest import reindex as run_reindex
from index.sources import read_sources


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
    settings = settings_of(ctx)

    def done(r: IngestReport) -> int:
        return r.added + r.updated + r.unchanged + len(r.failed)

    with open_archive(ctx) as archive, progress_bar("ingest") as bar:
        report = run_ingest(archive, read_sources(sources, settings), progress=lambda r: bar.step(done(r)))
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
    with open_archive(ctx, check_model=False) as archive, progress_bar("reindex") as bar:
        n = run_reindex(archive, progress=bar.step)
    click.echo(f"re-embedded {n} passages with {settings_of(ctx).embedding_model}")


# -- feeds -----------------------------------------------------------------------------------------------------
@cli.group()
def feeds() -> None:
    """Registered feeds, polled by `briefbot poll` and by the bot on an interval."""


def _registry(archive: Archive) -> FeedRegistry:
    return FeedRegistry(archive.catalog.db)


@feeds.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_add(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Register feeds by URL (or an .opml file to import all its feeds)."""
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
    _each_feed(ctx, urls, FeedRegistry.remove, "removed")


@feeds.command("resume")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_resume(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Poll paused feeds again (a feed is paused after BRIEFBOT_FEED_MAX_FAILURES failed polls in a row)."""
    _each_feed(ctx, urls, FeedRegistry.resume, "resumed")


def _each_feed(
    ctx: click.Context, urls: tuple[str, ...], action: Callable[[FeedRegistry, str], bool], done: str
) -> None:
    """``action`` on each registered feed of ``urls``; exit 1 after naming those that are not registered."""
    missing = False
    with open_archive(ctx) as archive:
        reg = _registry(archive)
        for url in urls:
            if action(reg, url):
                click.echo(f"{done} {url}")
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
    settings = settings_of(ctx)
    with open_archive(ctx) as archive, Fetcher(settings) as fetcher:
        # Entries older than BRIEFBOT_RETENTION_DAYS are not taken in: they would be pruned again.
        not_before = settings.retention_cutoff(datetime.now(UTC))
        report = run_ingest(archive, poll_feeds(_registry(archive), fetcher, settings), not_before=not_before)
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
