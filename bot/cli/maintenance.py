"""Commands that look after a home: prune (retention)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from bot.cli.app import cli, open_archive, print_json, progress_bar, settings_of
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
