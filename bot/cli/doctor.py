"""``briefbot doctor``: what an operator checks first, one line each."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from bot import doctor as health
from bot.cli.app import cli, print_json, settings_of


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.option("--no-telegram", is_flag=True, help="Skip the getMe call to the Bot API.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, no_telegram: bool) -> None:
    """Check the home and the bot: the home's size and the free disk, catalog vs vectors vs keyword index,
    the embedding model and the hash of its weights, the Chroma server, the bot token (getMe at
    BRIEFBOT_TELEGRAM_API_URL), feeds failing or paused, and the last digest of every subscribed chat.

    Exits 1 when there is a problem, with one line per problem.
    """
    found = health.checks(settings_of(ctx), datetime.now(UTC), telegram=not no_telegram)
    problems = [c for c in found if c.problem]
    if as_json:
        print_json({"ok": not problems, "checks": [c.as_json() for c in found]})
    else:
        for check in found:
            click.echo(check.line())
        click.echo(f"{len(problems)} problem{'' if len(problems) == 1 else 's'}" if problems else "all well")
    if problems:
        sys.exit(1)
