"""Running the bot: `briefbot run` as a real process against the fake Bot API server (start, answer, SIGTERM),
configuration errors, webhook mode, and a bot token that never reaches the logs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import httpx
import pytest

from bot.answering import AnswerEngine
from bot.settings import Settings
from bot.telegram.app import ALLOWED_UPDATES, RedactToken, build_application
from index.archive import Archive
from index.errors import ConfigError
from tests import bot_harness as harness
from tests.bot_harness import HARBOR_Q, HARBOR_TITLE, bot_settings, cited_titles, copy_corpus, running_bot
from tests.fakes.telegram import FakeTelegram
from tests.fakes.web import unused_port

archive, engine, server = harness.archive, harness.engine, harness.server  # shared fixtures

MAIN = Path(__file__).resolve().parents[1]
OTHER_TOKEN = "5550009999:AAOtherTokenTheServerDoesNotKnow-01234"


def briefbot(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`briefbot ARGS` in a child process (the console script may not be installed: run the entry point)."""
    return subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        cwd=MAIN,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def child_env(briefbot_home: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFBOT_", "TELEGRAM_", "OPENAI_"))}
    env.update(BRIEFBOT_HOME=str(briefbot_home), BRIEFBOT_CONFIG=os.environ["BRIEFBOT_CONFIG"], PTB_TIMEDELTA="1")
    yield env


def test_file_url_follows_the_api_url() -> None:
    def file_url(api: str) -> str:
        return Settings(telegram_api_url=api).telegram_file_url

    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot/") == "http://127.0.0.1:8081/file/bot"
    assert file_url("https://tg.example/custom") == "https://tg.example/file/bot"


def test_redaction_filter() -> None:
    redact = RedactToken("123456:secret-part").redact
    assert redact("POST https://api.telegram.org/bot987654321:AAbbCC_dd-ee/getMe") == (
        "POST https://api.telegram.org/bot<redacted>/getMe"
    )
    assert redact("token 123456:secret-part leaked") == "token <redacted> leaked"
    assert redact("5550001234:AAFakeTokenForTests-0123456789abcdef") == "<redacted>"


async def test_the_token_never_reaches_the_logs(
    server: FakeTelegram,
    briefbot_home: Path,
    archive: Archive,
    engine: AnswerEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home, archive=archive, engine=engine):
        # A request that fails: the error handler logs the traceback and apologises.
        server.drop_next("sendMessage", chat_id=alice)
        server.add_message(alice, alice, HARBOR_Q)
        [apology] = await server.async_wait_for_messages(alice, 1, timeout=10)
        # What httpx would log at INFO, and an exception carrying the token, as PTB's InvalidToken does.
        logging.getLogger("httpx").warning("HTTP Request: POST %s%s/getMe", server.base_url, server.token)
        try:
            raise RuntimeError(f"The token `{server.token}` was rejected by the server.")
        except RuntimeError:
            logging.getLogger("telegram.ext").exception("failed")
    assert apology.text == "Sorry, something went wrong on my side. Please try again in a moment."
    assert "Traceback" in caplog.text and "NetworkError" in caplog.text  # the log got the traceback...
    assert server.token not in caplog.text and server.token.split(":")[1] not in caplog.text  # ...not the token
    assert "bot<redacted>/getMe" in caplog.text and "The token `<redacted>` was rejected" in caplog.text
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


def test_run_needs_a_token(briefbot_home: Path) -> None:
    from bot.settings import Settings
    from bot.telegram.app import run_bot

    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        run_bot(Settings())


def test_briefbot_run_answers_and_stops_cleanly_on_sigterm(
    server: FakeTelegram,
    briefbot_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
    child_env: dict[str, str],
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)
    alice, bob, admin = server.add_user("Alice"), server.add_user("Bob"), server.add_user("Ada")
    group = server.add_group("Club", members=[bob])
    child_env.update(
        TELEGRAM_BOT_TOKEN=server.token,
        BRIEFBOT_TELEGRAM_API_URL=server.base_url,
        BRIEFBOT_ALLOWED_USERS=f"{alice.id}",
        BRIEFBOT_ALLOWED_CHATS=f"{group.id}",
        BRIEFBOT_ADMINS=f"{admin.id}",
    )
    process = briefbot(child_env, "-v", "run")
    try:
        server.wait_for(lambda: server.calls("setMyCommands") and server._poll_generation, 30, what="polling")
        server.add_message(alice, alice, HARBOR_Q)
        server.add_message(group, bob, f"/ask@{server.bot.username} {HARBOR_Q}")
        server.add_message(bob, bob, HARBOR_Q)
        server.add_message(admin, admin, "/stats")
        [answer] = server.wait_for_messages(alice, 1, timeout=20)
        [in_group] = server.wait_for_messages(group, 1, timeout=20)
        [refusal] = server.wait_for_messages(bob, 1, timeout=20)
        [stats] = server.wait_for_messages(admin, 1, timeout=20)
        server.add_message(alice, alice, "What did she say?")
        server.wait_for(lambda: server.calls("sendChatAction")[2:], 20, what="the follow-up in hand")
        process.send_signal(signal.SIGTERM)  # while (or just after) it answers
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate()
    assert code == 0, stderr
    assert cited_titles(answer) == [HARBOR_TITLE] and cited_titles(in_group) == [HARBOR_TITLE]
    assert in_group.reply_to_message_id is not None
    assert "this bot is private" in (refusal.text or "") and "6 articles" in (stats.text or "")
    follow_up = server.bot_messages(alice)
    assert len(follow_up) == 2 and cited_titles(follow_up[-1]) == [HARBOR_TITLE]  # the update in hand was finished
    scopes = {key[0] for key in server.commands}
    assert scopes == {'{"type": "all_private_chats"}', '{"type": "all_group_chats"}'}
    polls = [r.params for r in server.requests if r.method == "getUpdates"]
    assert polls[0]["allowed_updates"] == ALLOWED_UPDATES
    assert server.token not in stderr and "access: 1 allowed users, 1 allowed chats, 1 admins" in stderr
    [health] = [line for line in stderr.splitlines() if "health: " in line]  # the doctor's line at start
    assert "6 articles" in health and "in step" in health and health.endswith("no problems")


def test_briefbot_run_refuses_a_missing_or_rejected_token(server: FakeTelegram, child_env: dict[str, str]) -> None:
    missing = briefbot(child_env, "run")
    _, stderr = missing.communicate(timeout=60)
    assert missing.returncode == 2 and "briefbot: TELEGRAM_BOT_TOKEN is not set" in stderr
    assert "Traceback" not in stderr

    child_env.update(TELEGRAM_BOT_TOKEN=OTHER_TOKEN, BRIEFBOT_TELEGRAM_API_URL=server.base_url)
    rejected = briefbot(child_env, "run")
    _, stderr = rejected.communicate(timeout=60)
    assert rejected.returncode == 2 and "Telegram rejected the bot token" in stderr
    assert "answers EVERYONE" in stderr  # both allow-lists empty: said in the start-up log
    assert OTHER_TOKEN not in stderr and OTHER_TOKEN.split(":")[1] not in stderr


async def test_webhook_mode(server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine) -> None:
    from bot.telegram.webhook import webhook_options

    port = unused_port()
    settings = bot_settings(
        server,
        briefbot_home,
        webhook_url="https://bot.example/tg/hook",
        webhook_listen=f"127.0.0.1:{port}",
        webhook_secret="s3cret-token",
    )
    options = webhook_options(settings)
    assert options == {
        "listen": "127.0.0.1",
        "port": port,
        "url_path": "tg/hook",
        "webhook_url": "https://bot.example/tg/hook",
        "secret_token": "s3cret-token",
    }
    app = build_application(settings, archive=archive, engine=engine)
    alice = server.add_user("Alice")
    await app.initialize()
    await app.start()
    assert app.updater is not None
    try:
        await app.updater.start_webhook(**options, allowed_updates=ALLOWED_UPDATES)
        assert server.webhook_url == "https://bot.example/tg/hook"
        [webhook] = server.calls("setWebhook")
        assert webhook.params["secret_token"] == "s3cret-token"
        server.add_message(alice, alice, HARBOR_Q)
        [update] = server.pending_updates  # what Telegram would POST
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with httpx.AsyncClient() as client:
            refused = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            elsewhere = await client.post(f"http://127.0.0.1:{port}/other", json=update)
            started = time.monotonic()
            accepted = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
        assert (refused.status_code, elsewhere.status_code, accepted.status_code) == (403, 404, 200)
        [answer] = await server.async_wait_for_messages(alice, 1, timeout=10)
        assert cited_titles(answer) == [HARBOR_TITLE] and time.monotonic() - started < 5
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert len(server.bot_messages(alice)) == 1  # the refused posts were not processed


def test_webhook_settings_are_checked(server: FakeTelegram, briefbot_home: Path) -> None:
    from bot.telegram.webhook import webhook_options

    with pytest.raises(ConfigError, match="https"):
        webhook_options(bot_settings(server, briefbot_home, webhook_url="http://bot.example/hook"))
    with pytest.raises(ConfigError, match="host:port"):
        webhook_options(bot_settings(server, briefbot_home, webhook_url="https://b.example/h", webhook_listen="8443"))
    random_secret = webhook_options(bot_settings(server, briefbot_home, webhook_url="https://b.example/h"))
    assert len(random_secret["secret_token"]) >= 32
