"""Commands that answer: ask, chat (and the demo that ends in one), eval."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

import click

from bot.answering import AnswerEngine, QuestionContext, make_llm
from bot.ask import Asker, Reply
from bot.cli.app import cli, date_option, open_archive, outlets, print_json, progress_bar, settings_of, time_option
from bot.demo import demo_records
from bot.evaluate import evaluate, report_lines
from bot.settings import Settings
from bot.state import Turn
from index.archive import Archive
from index.ingest import ingest as run_ingest
from index.search import SearchFilters


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
    ref = date_option(today)
    now = ref or datetime.now(UTC)
    since_dt = time_option(since, now, "--since")
    until_dt = time_option(until, now, "--until")
    if since_dt and until_dt and until_dt <= since_dt:
        raise click.BadParameter(f"{until!r} is not after --since {since!r}", param_hint="--until")
    with open_archive(ctx) as archive:
        sources_ = outlets(archive, sources)
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
