"""The ``briefbot`` command line. Commands are thin: they call the same services the Telegram bot calls.

Exit codes: 0 all went well; 1 some item failed (the others still went in) or an operation failed; 2 usage or
configuration errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from telegram.error import InvalidToken, NetworkError

from bot.answering import AnswerEngine, QuestionContext, make_llm
from bot.ask import Asker, Reply
from bot.delivery.broadcast import BroadcastReport, make_bot, send_due_digests
from bot.demo import demo_records
from bot.digest import compose_digest, render_digest_text
from bot.evaluate import evaluate, report_lines
from bot.settings import Settings, load_settings
from bot.state import State, Turn
from bot.telegram.app import RedactToken, run_bot
from index.archive import Archive
from index.errors import BriefbotError, ConfigError
from index.feeds import FeedRegistry, import_opml
from index.feeds import poll as poll_feeds
from index.fetch import Fetcher
from index.ingest import IngestReport
from index.ingest import ingest as run_ingest
from index.ingest import reindex as run_reindex
from index.search import SearchFilters
from index.sources import read_sources
from index.timewin import parse_since

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


# -- answers ---------------------------------------------------------------------------------------------------
def _date_option(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _asker(archive: Archive, settings: Settings) -> Asker:
    return Asker(AnswerEngine(archive, settings, llm=make_llm(settings)))


@cli.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: answer, abstained, citations, passages.")
@click.option("--k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve.")
@click.option("--since", default=None, help="Only articles published since (24h, 7d, 2024-03-01).")
@click.option("--until", default=None, help="Only articles published before this date.")
@click.option("--source", "sources", multiple=True, help="Only this outlet (repeatable).")
@click.option("--today", default=None, help="Reference date for 'today'/'this week' (YYYY-MM-DD).")
@click.pass_context
def ask(
    ctx: click.Context,
    question: tuple[str, ...],
    as_json: bool,
    k: int | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    today: str | None,
) -> None:
    """Answer a question from the archive, with numbered sources."""
    settings = settings_of(ctx)
    ref = _date_option(today)
    now = ref or datetime.now(UTC)
    since_dt = _time_option(since, now, "--since")
    until_dt = _time_option(until, now, "--until")
    if since_dt and until_dt and until_dt <= since_dt:
        raise click.BadParameter(f"{until!r} is not after --since {since!r}", param_hint="--until")
    with open_archive(ctx) as archive:
        sources_ = _outlets(archive, sources)
        # "What's new?" with a filter is a search of what the filter admits, not a briefing.
        filters = SearchFilters(since=since_dt, until=until_dt, sources=sources_) if since or until or sources else None
        reply = _asker(archive, settings).reply_sync(
            " ".join(question), QuestionContext(today=ref, filters=filters, k=k)
        )
    if as_json:
        print_json(reply_json(reply))
    else:
        click.echo(reply.answer.as_text())


def reply_json(reply: Reply) -> dict[str, object]:
    """``ask --json``: the answer, and the stories when the question asked for a briefing."""
    out = reply.answer.as_json()
    if reply.briefing is not None:
        out["briefing"] = {
            "period": reply.briefing.label,
            "topic": reply.briefing.topic,
            **reply.briefing.digest.as_json(),
        }
    return out


def _time_option(value: str | None, now: datetime, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def _outlets(archive: Archive, names: Sequence[str]) -> tuple[str, ...]:
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


def chat_loop(archive: Archive, settings: Settings, stream: TextIO, *, prompt: bool) -> None:
    """Questions from ``stream`` (a terminal or piped lines), answers on stdout, follow-ups remembered."""
    asker = _asker(archive, settings)
    history: list[Turn] = []
    while True:
        if prompt:
            click.echo("> ", nl=False)
        line = stream.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        if question.startswith("/"):
            command = question.split()[0].lower()
            if command in {"/quit", "/exit"}:
                break
            if command in {"/reset", "/new"}:
                history.clear()
                click.echo("(conversation forgotten)")
            else:
                click.echo("Ask a question about the news; /reset forgets the conversation, /quit (or Ctrl-D) ends.")
            continue
        if len(question) > settings.max_question_chars:
            click.echo(f"That question is too long: at most {settings.max_question_chars} characters, please.\n")
            continue
        answer = asker.reply_sync(question, QuestionContext(history=history[-settings.history_turns :])).answer
        history.append(Turn(question, answer.text))
        click.echo(answer.as_text())
        click.echo("")


@cli.command()
@click.pass_context
def chat(ctx: click.Context) -> None:
    """Ask questions in the terminal (the bot's conversation without Telegram). /reset forgets, Ctrl-D quits."""
    settings = settings_of(ctx)
    with open_archive(ctx) as archive:
        interactive = sys.stdin.isatty()
        if interactive:
            st = archive.stats()
            click.echo(f"briefbot: {st.articles} articles; ask a question, /reset to start over, Ctrl-D to quit.")
        chat_loop(archive, settings, sys.stdin, prompt=interactive)


@cli.command()
@click.option("--no-chat", is_flag=True, help="Only ingest the demo corpus and print what the archive holds.")
@click.pass_context
def demo(ctx: click.Context, no_chat: bool) -> None:
    """Ingest the demo corpus (fictional sample articles, dated to end today) and start a chat. `make run` runs
    this."""
    settings = settings_of(ctx)
    with open_archive(ctx) as archive:
        report = run_ingest(archive, demo_records(settings))
        st = archive.stats()
        click.echo(
            f"demo corpus: {report.added} added, {report.unchanged - report.duplicates} already there, "
            f"{report.duplicates} syndicated {'copy' if report.duplicates == 1 else 'copies'} stored once; "
            f"the archive at {settings.home} "
            f"holds {st.articles} articles from {len(st.sources)} outlets"
            + (f", {st.oldest.date()} .. {st.newest.date()}" if st.oldest and st.newest else "")
        )
        if no_chat:
            return
        interactive = sys.stdin.isatty()
        if interactive:
            click.echo("Ask about the demo news, e.g. 'What did Tervania say about the sanctions?' (Ctrl-D quits)")
        chat_loop(archive, settings, sys.stdin, prompt=interactive)


@cli.command("eval")
@click.argument("questions")
@click.option("--null", "null_path", default=None, help="Questions the archive cannot answer (abstention expected).")
@click.option("--corpus", default=None, help="Articles to ingest first into a cached evaluation home.")
@click.option("--run-out", default=None, help="Write a run file for shared/data/rtqa-2024/score.py.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--modes", default="hybrid", help="Retrieval modes to compare, comma-separated: hybrid,dense,keyword.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions of each file.")
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    questions: str,
    null_path: str | None,
    corpus: str | None,
    run_out: str | None,
    as_json: bool,
    modes: str,
    limit: int | None,
) -> None:
    """Evaluate answers on QUESTIONS (.jsonl[.gz] with id, question, answer, optional date).

    Prints Hit@1/5/10 and MRR@10 per retrieval mode, the answer string in replies, abstention on --null
    questions and false abstention on answerable ones, the share of quotes found verbatim, and latency.
    """
    with progress_bar("ingest corpus") as bar:
        result = evaluate(
            settings_of(ctx),
            questions,
            null_path=null_path,
            corpus=corpus,
            modes=[m.strip() for m in modes.split(",") if m.strip()],
            limit=limit,
            run_out=run_out,
            on_ingest=lambda r: bar.step(r.added + r.updated + r.unchanged + len(r.failed)),
            on_question=lambda done, total: bar.step(done, total, label="eval"),
        )
    if "corpus" in result:
        c = result["corpus"]
        click.echo(
            f"corpus: {c['added']} added, {c['unchanged']} unchanged, {c['failed']} failed ({c['seconds']:.0f}s); "
            f"home {result['home']}",
            err=True,
        )
    if as_json:
        print_json(result)
    else:
        click.echo("\n".join(report_lines(result)))


# -- digests ---------------------------------------------------------------------------------------------------
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
    since_dt = _time_option(since, now, "--since") or now - timedelta(hours=24)
    until_dt = _time_option(until, now, "--until") or now
    if until_dt <= since_dt:
        raise click.BadParameter(f"--until ({until_dt.isoformat()}) is not after --since ({since_dt.isoformat()})")
    with open_archive(ctx) as archive:
        result = compose_digest(
            archive,
            since=since_dt,
            until=until_dt,
            topic=topic,
            max_stories=settings.digest_max_stories,
            llm=make_llm(settings),
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
    SIGTERM stops it cleanly.
    """
    run_bot(settings_of(ctx))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="briefbot")


if __name__ == "__main__":
    main()
