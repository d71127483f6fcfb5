"""Digests from the command line (printed, or sent to the subscribed chats), and the Telegram bot itself."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import click
from telegram.error import InvalidToken, NetworkError

from bot import doctor
from bot.answering import make_llm
from bot.cli.app import cli, log, open_archive, print_json, settings_of, time_option
from bot.delivery.broadcast import BroadcastReport, make_bot, send_due_digests
from bot.digest import compose_digest_async, render_digest_text
from bot.settings import Settings
from bot.state import State
from bot.telegram.app import RedactToken, run_bot
from index.archive import Archive
from index.errors import BriefbotError, ConfigError


@cli.command()
@click.option("--since", default=None, help="Start of the window: 24h, 7d, yesterday, 2026-11-28 (default 24h).")
@click.option("--until", default=None, help="End of the window (default now): 2h (ago), 2026-11-29, 2026-11-29T08:00.")
@click.option("--topic", default=None, help="Only stories about this topic.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: since, until, stories with their citations.")
@click.option("--send", is_flag=True, help="Deliver now to every subscribed chat the digest it has not received yet.")
@click.pass_context
def digest(
    ctx: click.Context, since: str | None, until: str | None, topic: str | None, as_json: bool, send: bool
) -> None:
    """Print the day's stories, clustered across outlets and cited; or --send them to the subscribers.

    Without --send: the stories published in the window (default: the last 24 hours), ranked by how many
    outlets covered them. With --send: every subscribed chat gets the digest of its current local day (the
    stories since its last digest) unless it already has it, so a second run right after sends nothing; uses
    TELEGRAM_BOT_TOKEN and BRIEFBOT_TELEGRAM_API_URL. Exit 1 when a delivery failed (a chat that blocked the
    bot is marked inactive, not counted as a failure).
    """
    settings = settings_of(ctx)
    if send:
        if since or until or topic:
            raise click.UsageError("--send delivers each chat's own window: no --since, --until or --topic")
        _send_digests(ctx, settings, as_json)
        return
    now = datetime.now(UTC)
    since_dt = time_option(since, now, "--since") or now - timedelta(hours=24)
    until_dt = time_option(until, now, "--until") or now
    if until_dt <= since_dt:
        raise click.BadParameter(f"--until ({until_dt.isoformat()}) is not after --since ({since_dt.isoformat()})")
    with open_archive(ctx) as archive:
        result = asyncio.run(
            compose_digest_async(
                archive,
                since=since_dt,
                until=until_dt,
                topic=topic,
                max_stories=settings.digest_max_stories,
                llm=make_llm(settings),
                timeout=settings.llm_timeout,
                max_tokens=settings.llm_summary_max_tokens,
            )
        )
    if as_json:
        print_json(result.as_json())
    else:
        click.echo(render_digest_text(result), nl=False)


def _send_digests(ctx: click.Context, settings: Settings, as_json: bool) -> None:
    bot = make_bot(settings)

    async def run(archive: Archive, state: State) -> BroadcastReport:
        llm = make_llm(settings)
        try:
            async with bot:
                return await send_due_digests(bot, state, archive, settings, now=datetime.now(UTC), llm=llm)
        finally:
            if llm is not None:
                await llm.aclose()

    state = State(settings.state_path)
    try:
        with open_archive(ctx) as archive:
            report = asyncio.run(run(archive, state))
    except InvalidToken:
        raise ConfigError("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN") from None
    except NetworkError as exc:
        reason = RedactToken().redact(str(exc))
        raise BriefbotError(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {reason}") from None
    finally:
        state.close()
    if as_json:
        print_json(report.as_json())
    else:
        for o in report.outcomes:
            if o.status in ("failed", "partial", "blocked"):
                click.echo(f"chat {o.chat_id}: {o.status}: {o.error}", err=True)
        blocked = report.count("blocked")
        click.echo(
            f"{report.count('sent')} digests sent ({report.messages} messages), {report.count('duplicate')} "
            f"already delivered, {report.count('empty')} empty, {blocked} chat{'' if blocked == 1 else 's'} "
            f"blocked the bot (marked inactive), {report.count('failed') + report.count('partial')} failed "
            f"in {report.seconds:.1f}s"
        )
    if report.count("failed") or report.count("partial"):
        sys.exit(1)


# -- Telegram --------------------------------------------------------------------------------------------------
@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the Telegram bot (long polling; webhook mode when BRIEFBOT_WEBHOOK_URL is set).

    Needs TELEGRAM_BOT_TOKEN. BRIEFBOT_TELEGRAM_API_URL points it at a self-hosted Bot API server. SIGINT or
    SIGTERM stops it cleanly. It logs one line of `briefbot doctor` at start.
    """
    settings = settings_of(ctx)
    found = doctor.checks(settings, datetime.now(UTC), telegram=False)  # the bot says itself if Telegram answers
    (log.warning if any(c.problem for c in found) else log.info)(doctor.summary(found))
    run_bot(settings)
