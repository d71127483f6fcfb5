"""The ``briefbot`` command line. Commands are thin: they call the same services the Telegram bot calls.

Exit codes: 0 all went well; 1 some item failed (the others still went in) or an operation failed; 2 usage or
configuration errors.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
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


# -- answers ---------------------------------------------------------------------------------------------------
def _date_option(value: str | None) -> datetime | None:
    from index.timewin import parse_today

    if value is None:
        return None
    try:
        return parse_today(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--today") from None


def _engine(archive: Any, settings: Settings) -> Any:
    from bot.answer import AnswerEngine
    from bot.llm import make_llm

    return AnswerEngine(archive, settings, llm=make_llm(settings))


def answer_json(answer: Any) -> dict[str, object]:
    return {
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [c.as_json() for c in answer.citations],
        "passages": [{"article_id": p.article_id, "text": p.text, "score": round(p.score, 6)} for p in answer.passages],
    }


def answer_text(answer: Any) -> str:
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            day = c.published.date().isoformat() if c.published else "undated"
            lines.append(f"  [{c.n}] {c.source}, {day}: {c.title}")
            lines.append(f"      {c.url}")
    return "\n".join(lines)


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
    from index.search import SearchFilters

    settings = settings_of(ctx)
    ref = _date_option(today)
    now = ref or datetime.now(UTC)
    since_dt = _time_option(since, now, "--since")
    until_dt = _time_option(until, now, "--until")
    if since_dt and until_dt and until_dt <= since_dt:
        raise click.BadParameter(f"{until!r} is not after --since {since!r}", param_hint="--until")
    text = " ".join(question).strip()
    if not text:
        raise click.UsageError("the question is empty")
    if len(text) > settings.max_question_chars:
        raise click.UsageError(
            f"the question is too long ({len(text)} characters; at most {settings.max_question_chars}, "
            "BRIEFBOT_MAX_QUESTION_CHARS)"
        )
    with open_archive(ctx) as archive:
        filters = SearchFilters(since=since_dt, until=until_dt, sources=_outlets(archive, sources))
        engine = _engine(archive, settings)
        plain = not (since or until or sources)  # "what's new?" with filters is a search, not a briefing
        answer = (plain and engine.briefing(text, today=ref)) or engine.answer(text, today=ref, filters=filters, k=k)
    if as_json:
        print_json(answer_json(answer))
    else:
        click.echo(answer_text(answer))


def _time_option(value: str | None, now: datetime, name: str) -> datetime | None:
    from index.timewin import parse_since

    if not value:
        return None
    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def _outlets(archive: Any, names: Sequence[str]) -> tuple[str, ...]:
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


def chat_loop(archive: Any, settings: Settings, stream: TextIO, *, prompt: bool) -> None:
    """Questions from ``stream`` (a terminal or piped lines), answers on stdout, follow-ups remembered."""
    from bot.answer import Turn

    engine = _engine(archive, settings)
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
        answer = engine.briefing(question) or engine.answer(question, history=history[-settings.history_turns :])
        history.append(Turn(question, answer.text))
        click.echo(answer_text(answer))
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
    from bot.demo import demo_records
    from index.ingest import ingest as run_ingest

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
    import hashlib
    from pathlib import Path

    from bot.evaluate import MODES, check_writable, read_jsonl, run_questions, summarise, write_run
    from index.archive import Archive
    from index.ingest import ingest as run_ingest
    from index.sources import read_sources

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    if not chosen or any(m not in MODES for m in chosen):
        raise click.BadParameter(f"modes must be among {', '.join(MODES)}", param_hint="--modes")
    if "hybrid" not in chosen:
        chosen.insert(0, "hybrid")
    qs = read_jsonl(questions)[:limit]
    nulls = read_jsonl(null_path, answers=False)[:limit] if null_path else []
    if run_out:
        check_writable(run_out)
    settings = settings_of(ctx)
    if corpus:
        # The corpus gets a home of its own beside the user's archive, reused by later runs.
        key = hashlib.sha1(str(Path(corpus).resolve()).encode()).hexdigest()[:8]
        name = Path(corpus).name.split(".")[0]
        settings = settings.model_copy(update={"home": settings.home / "eval" / f"{name}-{key}"})
    archive = Archive(settings)
    try:
        if corpus:
            progress = Progress("ingest corpus")
            report = run_ingest(
                archive,
                read_sources([corpus], settings),
                progress=lambda r: progress.update(f"{r.added} added, {r.unchanged} unchanged"),
            )
            progress.close()
            click.echo(
                f"corpus: {report.added} added, {report.unchanged} unchanged, {len(report.failed)} failed "
                f"({report.seconds:.0f}s); home {settings.home}",
                err=True,
            )
        engine = _engine(archive, settings)
        outcomes = {}
        progress = Progress("eval")
        for o in run_questions(engine, [*qs, *nulls], modes=chosen):
            outcomes[o.id] = o
            progress.update(f"{len(outcomes)}/{len(qs) + len(nulls)} questions")
        progress.close()
    finally:
        archive.close()
    if run_out:
        write_run(run_out, outcomes.values())
    result = summarise(qs, nulls, outcomes, chosen)
    if as_json:
        print_json(result)
        return
    for mode, m in result["retrieval"].items():
        click.echo(
            f"{mode:>36}: Hit@1 {m['Hit@1']:.3f}  Hit@5 {m['Hit@5']:.3f}  Hit@10 {m['Hit@10']:.3f}  "
            f"MRR@10 {m['MRR@10']:.3f}  (n={m['n']})"
        )
    if "answers" in result:
        a = result["answers"]
        click.echo(
            f"answers: string in reply {a['answer_string_in_reply']:.3f}, false abstention {a['false_abstention']:.3f}"
        )
    if "null" in result:
        click.echo(f"null questions: abstention {result['null']['abstention']:.3f} (n={result['null']['n']})")
        cv = result["null"].get("cross_validated")
        if cv:
            click.echo(
                f"abstention threshold, {cv['folds']}-fold cross-validated: "
                f"null abstention {cv['null_abstention']:.3f}, false abstention {cv['false_abstention']:.3f} "
                f"(threshold {cv['threshold']:.3f})"
            )
    click.echo(f"quotes verbatim: {result['quotes']['verbatim']:.3f} of {result['quotes']['n']}")
    if "latency_ms" in result:
        lat = result["latency_ms"]
        click.echo(f"latency: p50 {lat['p50']} ms, p95 {lat['p95']} ms")


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
    from bot.digest import render_digest_text
    from bot.llm import make_llm

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
    from bot.digest import compose_digest

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
    import asyncio

    from telegram.error import InvalidToken, NetworkError

    from bot.broadcast import make_bot, send_due_digests
    from bot.llm import make_llm
    from bot.state import State
    from index.errors import ConfigError

    bot = make_bot(settings)

    async def run(archive: Any, state: State) -> Any:
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
        from bot.app import RedactToken

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
    from bot.app import run_bot

    run_bot(settings_of(ctx))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="briefbot")


if __name__ == "__main__":
    main()
