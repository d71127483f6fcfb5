"""Commands that look after a home: prune (retention), backup and restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from bot.cli.app import cli, open_archive, print_json, progress_bar, settings_of
from index.backup import backup as run_backup
from index.backup import restore as run_restore
from index.maintenance import cutoff_for, parse_age
from index.maintenance import prune as run_prune


def _age(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option(
    "--older-than",
    "age",
    callback=_age,
    metavar="AGE",
    help="Prune articles older than this: days or weeks, such as 365d or 52w (default: BRIEFBOT_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object of what was (or would be) removed.")
@click.pass_context
def prune(ctx: click.Context, age: timedelta | None, dry_run: bool, as_json: bool) -> None:
    """Remove old articles from every store: their passages, vectors, keyword index and cache entries.

    An article's age is from its published date; an undated article's from when it was ingested. Each batch
    goes all at once or not at all: an interrupted prune leaves nothing half-removed (the next start cleans up)
    and running it again finishes the job. Chats keep their history and delivery logs. The bot prunes by itself
    once a day when BRIEFBOT_RETENTION_DAYS is set. Exit 2 on a bad AGE.
    """
    settings = settings_of(ctx)
    if age is None:
        if settings.retention_days is None:
            raise click.UsageError("give --older-than AGE (such as 365d), or set BRIEFBOT_RETENTION_DAYS")
        age = timedelta(days=settings.retention_days)
    cutoff = cutoff_for(age, datetime.now(UTC))
    with open_archive(ctx) as archive, progress_bar("prune") as bar:
        report = run_prune(archive, cutoff, dry_run=dry_run, progress=bar.step)
    if as_json:
        print_json(report.as_json())
        return
    verb = "would prune" if dry_run else "pruned"
    click.echo(
        f"{verb} {report.articles} articles dated before {cutoff.date()}: {report.passages} passages, "
        f"{report.vectors} vectors, {report.cache_entries} cache entries, {report.urls} URLs"
    )


@cli.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the backup's manifest as JSON.")
@click.pass_context
def backup(ctx: click.Context, dest: Path, as_json: bool) -> None:
    """Back up the home into DEST (a new or empty folder), safely while the bot runs.

    Copies every SQLite database of the home (catalog, bot state) with SQLite's online backup API, and the
    vectors: the local Chroma folder, or with BRIEFBOT_CHROMA_URL an export of the collection. All of it is copied
    between two batches of any ingest or prune in progress (which pauses for the copy), so every article is in
    both stores or in neither. DEST gets a manifest, briefbot-backup.json; `briefbot restore DEST` reads it back.
    Exit 2 when DEST is not empty.
    """
    with open_archive(ctx) as archive:
        report = run_backup(archive, dest)
    if as_json:
        print_json(report.as_json())
        return
    c = report.manifest["counts"]
    click.echo(
        f"backed up {c['articles']} articles, {c['passages']} passages, {c['vectors']} vectors and "
        f"{len(report.manifest['databases'])} databases to {dest} in {report.seconds:.1f}s"
    )


@cli.command()
@click.argument("src", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the restored backup's manifest as JSON.")
@click.pass_context
def restore(ctx: click.Context, src: Path, as_json: bool) -> None:
    """Restore the backup in SRC (made by `briefbot backup`) into the home, which must be new or empty.

    The home is BRIEFBOT_HOME; with BRIEFBOT_CHROMA_URL the vectors go into that server's collection, which must be
    empty too. Nothing is written into the home until the restored copy matches the backup's counts. Exit 2 when
    SRC is not a briefbot backup or the home is not empty.
    """
    settings = settings_of(ctx)
    manifest = run_restore(settings, src)
    if as_json:
        print_json({"home": str(settings.home), **manifest})
        return
    c = manifest["counts"]
    click.echo(
        f"restored {c['articles']} articles, {c['passages']} passages and {c['vectors']} vectors "
        f"(backed up {manifest['created']}) into {settings.home}"
    )
