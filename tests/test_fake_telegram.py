"""The fake Bot API server is a component: it must accept what Telegram accepts and refuse what Telegram refuses."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

from tests.fakes.telegram import DEFAULT_TOKEN, METHODS, FakeTelegram, FloodLimits, HtmlParseError, parse_html
from tests.fakes.telegram.spec import NOT_MODIFIED, QUERY_TOO_OLD, UPDATE_TYPES

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "telegram-bot-api" / "api-10.0.json"

Api = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram(bot_username="brief_test_bot") as fake:
        yield fake


@pytest.fixture
def api(server: FakeTelegram) -> Iterator[Api]:
    """Call a method the way python-telegram-bot does: a form-encoded POST, non-strings JSON-encoded."""
    with httpx.Client(timeout=10) as client:

        def call(method: str, *, token: str = DEFAULT_TOKEN, **params: Any) -> tuple[int, dict[str, Any]]:
            data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            response = client.post(f"{server.base_url}{token}/{method}", data=data)
            return response.status_code, response.json()

        yield call


def ok(answer: tuple[int, dict[str, Any]]) -> Any:
    status, body = answer
    assert status == 200 and body["ok"], body
    return body["result"]


def error(answer: tuple[int, dict[str, Any]]) -> tuple[int, str]:
    status, body = answer
    assert not body["ok"] and body["error_code"] == status, body
    return status, body["description"]


# --- HTML parse mode ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "visible"),
    [
        ("<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>", "bold s i e u n"),
        ("<s>a</s><strike>b</strike><del>c</del>", "abc"),
        ('<span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler>', "x y"),
        ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
        ('<pre><code class="language-python">print(1 &lt; 2)</code></pre>', "print(1 < 2)"),
        ("<code>x</code> <pre>y</pre>", "x y"),
        ("<blockquote>q</blockquote><blockquote expandable>e</blockquote>", "qe"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("&lt;&gt;&amp;&quot; &#65;&#x42;", '<>&" AB'),
        ("<B>caps</B >", "caps"),
        ("a > b", "a > b"),
        ("<b>nested <i>tags</i></b>", "nested tags"),
    ],
)
def test_html_accepts_telegram_html(html: str, visible: str) -> None:
    assert parse_html(html)[0] == visible


def test_html_entities_have_utf16_offsets() -> None:
    text, entities = parse_html(
        '😀 <b>bold</b> <a href="https://x.org">x</a> <pre><code class="language-py">c</code></pre>'
    )
    assert text == "😀 bold x c"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 8, "length": 1, "url": "https://x.org"},
        {"type": "pre", "offset": 10, "length": 1, "language": "py"},
    ]


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("<b>open", "Can't find end tag corresponding to start tag b"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("é<br/>", 'Unsupported start tag "br/" at byte offset 2'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("fish & chips", 'Unescaped "&" at byte offset 5'),
        ("&nbsp;", 'Unescaped "&" at byte offset 0'),
        ("&amp no semicolon", 'Unescaped "&" at byte offset 0'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        (
            "<blockquote open>x</blockquote>",
            'Expected equal sign in declaration of an attribute of the tag "blockquote"',
        ),
    ],
)
def test_html_rejects_what_telegram_rejects(html: str, message: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(html)
    assert message in str(caught.value)


def test_html_lenient_mode_keeps_bare_ampersands_like_telegram() -> None:
    assert parse_html("fish & chips &amp &nbsp;", strict=False)[0] == "fish & chips & &nbsp;"


def test_send_message_reports_html_errors_like_telegram(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    status, description = error(api("sendMessage", chat_id=alice.id, text="<b>x", parse_mode="HTML"))
    assert (status, description) == (
        400,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag b",
    )


def test_length_is_counted_after_entity_parsing_in_utf16(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    server.flood_limits = None

    def send(text: str) -> tuple[int, dict[str, Any]]:
        return api("sendMessage", chat_id=alice.id, text=text, parse_mode="HTML")

    assert ok(send("<b>" + "a" * 4096 + "</b>"))["text"] == "a" * 4096
    assert error(send("<b>" + "a" * 4097 + "</b>")) == (400, "Bad Request: message is too long")
    assert ok(send("a" * 4095 + "&amp;"))["text"].endswith("a&")
    assert error(send("a" * 4096 + "&amp;"))[1] == "Bad Request: message is too long"
    ok(send("😀" * 2048))
    assert error(send("😀" * 2049))[1] == "Bad Request: message is too long"
    assert error(send("<b> </b>")) == (400, "Bad Request: message text is empty")
    assert server.texts(alice.id)[0] == "a" * 4096


# --- parameters -----------------------------------------------------------------------------------------------


def test_parameters_are_checked_like_telegram(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    assert error(api("sendMessage", chat_id=alice.id, text="x", colour="red"))[0] == 400
    assert error(api("sendMessage", chat_id=alice.id)) == (400, "Bad Request: message text is empty")
    assert error(api("sendMessage", text="x")) == (400, "Bad Request: chat_id is empty")
    assert (
        'parameter "message_id" must be of type Integer'
        in error(api("deleteMessage", chat_id=alice.id, message_id="first"))[1]
    )
    assert error(api("sendMessage", chat_id=alice.id, text="x", reply_markup="{oops"))[1] == (
        "Bad Request: can't parse reply keyboard markup JSON object"
    )
    assert error(api("sendMessage", chat_id=424242, text="x")) == (400, "Bad Request: chat not found")
    assert error(api("sendMessage", chat_id=alice.id, text="x", parse_mode="HTML5")) == (
        400,
        "Bad Request: unsupported parse_mode",
    )
    assert [r.status for r in server.requests] == [400] * 7
    assert server.sent == []


def test_json_and_multipart_bodies_are_accepted(server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    url = f"{server.base_url}{server.token}/sendMessage"
    with httpx.Client() as client:
        as_json = client.post(url, json={"chat_id": alice.id, "text": "json", "disable_notification": True})
        multipart = client.post(url, data={"chat_id": str(alice.id)}, files={"text": (None, "multipart")})
    assert as_json.json()["result"]["text"] == "json"
    assert multipart.json()["result"]["text"] == "multipart"
    assert server.texts(alice) == ["json", "multipart"]


def test_inline_keyboard_callback_data_is_1_to_64_bytes(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")

    def keyboard(data: str) -> dict[str, Any]:
        return {"inline_keyboard": [[{"text": "More", "callback_data": data}]]}

    sent = ok(api("sendMessage", chat_id=alice.id, text="x", reply_markup=keyboard("é" * 32)))
    assert sent["reply_markup"] == keyboard("é" * 32)
    for bad in ("", "é" * 32 + "x"):
        assert error(api("sendMessage", chat_id=alice.id, text="x", reply_markup=keyboard(bad))) == (
            400,
            "Bad Request: BUTTON_DATA_INVALID",
        )


def test_forum_topics_and_replies_must_exist(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    forum = server.add_supergroup("Forum", forum=True, members=[alice])
    topic = server.add_forum_topic(forum, "Markets")
    question = server.add_message(forum, alice, "/ask@brief_test_bot rates?", thread_id=topic)

    sent = ok(
        api(
            "sendMessage",
            chat_id=forum.id,
            text="answer",
            message_thread_id=topic,
            reply_parameters={"message_id": question.message_id},
        )
    )
    assert sent["message_thread_id"] == topic and sent["is_topic_message"]
    assert sent["reply_to_message"]["message_id"] == question.message_id
    assert error(api("sendMessage", chat_id=forum.id, text="x", message_thread_id=topic + 100)) == (
        400,
        "Bad Request: message thread not found",
    )
    assert error(api("sendMessage", chat_id=forum.id, text="x", reply_parameters={"message_id": 999})) == (
        400,
        "Bad Request: message to be replied not found",
    )
    lenient = {"message_id": 999, "allow_sending_without_reply": True}
    assert "reply_to_message" not in ok(api("sendMessage", chat_id=forum.id, text="x", reply_parameters=lenient))


def test_edit_message_text_like_telegram(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    keyboard = {"inline_keyboard": [[{"text": "More", "callback_data": "more"}]]}
    sent = ok(api("sendMessage", chat_id=alice.id, text="<b>v1</b>", parse_mode="HTML", reply_markup=keyboard))
    edit = {"chat_id": alice.id, "message_id": sent["message_id"], "parse_mode": "HTML"}

    assert error(api("editMessageText", text="<b>v1</b>", reply_markup=keyboard, **edit)) == (400, NOT_MODIFIED)
    edited = ok(api("editMessageText", text="<i>v2</i>", **edit))
    assert edited["text"] == "v2" and "reply_markup" not in edited and edited["edit_date"]
    assert error(api("editMessageText", chat_id=alice.id, message_id=77, text="x")) == (
        400,
        "Bad Request: message to edit not found",
    )
    stored = server.message(alice.id, sent["message_id"])
    assert (stored.text, stored.source, stored.history) == ("v2", "<i>v2</i>", ["v1"])


def test_answer_callback_query_once(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    sent = ok(api("sendMessage", chat_id=alice.id, text="pick"))
    query = server.add_callback_query(alice.id, alice, sent["message_id"], "more:1")
    update = ok(api("getUpdates"))[0]
    assert update["callback_query"]["data"] == "more:1"
    assert update["callback_query"]["message"]["message_id"] == sent["message_id"]

    assert ok(api("answerCallbackQuery", callback_query_id=query.id, text="Loading")) is True
    assert query.answered and query.answer_text == "Loading"
    assert error(api("answerCallbackQuery", callback_query_id=query.id)) == (400, QUERY_TOO_OLD)
    assert error(api("answerCallbackQuery", callback_query_id="123")) == (400, QUERY_TOO_OLD)


def test_blocked_kicked_and_migrated_chats(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    bob = server.add_user("Bob", started=False)
    group = server.add_group("Club", members=[alice])
    server.block(alice.id)
    assert error(api("sendMessage", chat_id=alice.id, text="x")) == (403, "Forbidden: bot was blocked by the user")
    assert error(api("sendMessage", chat_id=bob.id, text="x"))[0] == 403
    supergroup = server.migrate_group(group)
    status, body = api("sendMessage", chat_id=group.id, text="x")
    assert status == 400 and body["parameters"] == {"migrate_to_chat_id": supergroup.id}
    server.add_my_chat_member(supergroup, alice, new_status="kicked")
    assert error(api("sendMessage", chat_id=supergroup.id, text="x")) == (
        403,
        "Forbidden: bot was kicked from the supergroup chat",
    )
    kinds = [next(k for k in u if k != "update_id") for u in ok(api("getUpdates"))]
    assert kinds == ["message", "message", "my_chat_member"]


# --- getUpdates ------------------------------------------------------------------------------------------------


def test_get_updates_offset_semantics(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice", username="alice")
    for text in ("one", "two", "three"):
        server.add_message(alice.id, alice, text)
    updates = ok(api("getUpdates"))
    first = updates[0]["update_id"]
    assert [u["message"]["text"] for u in updates] == ["one", "two", "three"]
    assert [u["update_id"] for u in updates] == [first, first + 1, first + 2]
    assert [u["update_id"] for u in ok(api("getUpdates", offset=0))] == [first, first + 1, first + 2]
    assert [u["message"]["text"] for u in ok(api("getUpdates", offset=first + 1, limit=1))] == ["two"]
    assert [u["message"]["text"] for u in ok(api("getUpdates"))] == ["two", "three"]  # below offset: gone
    assert [u["message"]["text"] for u in ok(api("getUpdates", offset=-1))] == ["three"]
    assert ok(api("getUpdates", offset=first + 3)) == []
    assert server.pending_updates == []


def test_get_updates_message_shape_and_entities(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice", username="alice")
    group = server.add_group("Club", members=[alice])
    server.add_message(group, alice, "/ask@brief_test_bot what's new? cc @alice https://x.org/a.")
    message = ok(api("getUpdates"))[0]["message"]
    assert message["chat"] == {"id": group.id, "type": "group", "title": "Club"}
    assert message["from"]["id"] == alice.id and message["message_id"] == 1 and message["date"] > 0
    assert message["entities"] == [
        {"type": "bot_command", "offset": 0, "length": 19},
        {"type": "mention", "offset": 35, "length": 6},
        {"type": "url", "offset": 42, "length": 15},  # the final "." is no part of it
    ]


def test_privacy_mode_hides_plain_group_messages(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice])
    bot_message = ok(api("sendMessage", chat_id=group.id, text="digest"))
    seen = [
        server.add_message(group, alice, "just chatting"),
        server.add_message(group, alice, "/ask rates"),
        server.add_message(group, alice, "/ask@other_bot rates"),
        server.add_message(group, alice, "hey @brief_test_bot"),
        server.add_message(group, alice, "thanks", reply_to=bot_message["message_id"]),
        server.add_sticker(group, alice),
    ]
    assert [m.delivered for m in seen] == [False, True, False, True, True, False]
    assert len(ok(api("getUpdates"))) == 3


def test_allowed_updates_is_honoured_and_remembered(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice])
    server.add_my_chat_member(group, alice, new_status="administrator")
    server.add_message(group, alice, "hello")
    [update] = ok(api("getUpdates", allowed_updates=["message"]))
    assert set(update) == {"update_id", "message"}
    server.add_my_chat_member(group, alice, new_status="member")
    assert ok(api("getUpdates", offset=update["update_id"] + 1)) == []  # still only messages
    server.add_my_chat_member(group, alice, new_status="administrator")
    assert len(ok(api("getUpdates", allowed_updates=[]))) == 1  # [] resets to the default types


def test_long_poll_returns_as_soon_as_an_update_arrives(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    timer = threading.Timer(0.2, server.add_message, args=(alice.id, alice, "ping"))
    started = time.monotonic()
    timer.start()
    updates = ok(api("getUpdates", timeout=5))
    timer.join()
    assert [u["message"]["text"] for u in updates] == ["ping"]
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert ok(api("getUpdates", offset=updates[0]["update_id"] + 1, timeout=1)) == []
    assert 0.9 < time.monotonic() - started < 3


def test_a_second_poller_terminates_the_first(server: FakeTelegram, api: Api) -> None:
    answers: list[tuple[int, str]] = []
    first = threading.Thread(target=lambda: answers.append(error(api("getUpdates", timeout=5))))
    first.start()
    server.wait_for(lambda: server._poll_generation == 1, 2)
    ok(api("getUpdates"))
    first.join(3)
    assert answers and answers[0][0] == 409 and "terminated by other getUpdates" in answers[0][1]


# --- flood limits, faults, tokens ---------------------------------------------------------------------------


def test_flood_limits(api: Api, server: FakeTelegram) -> None:
    server.flood_limits = FloodLimits(private_burst=2, global_burst=1000)
    alice = server.add_user("Alice")
    group = server.add_group("Club")
    ok(api("sendMessage", chat_id=alice.id, text="1"))
    ok(api("sendMessage", chat_id=alice.id, text="2"))
    status, body = api("sendMessage", chat_id=alice.id, text="3")
    assert status == 429 and body["description"] == "Too Many Requests: retry after 1"
    assert body["parameters"] == {"retry_after": 1}
    for n in range(20):
        ok(api("sendMessage", chat_id=group.id, text=str(n)))
    status, body = api("sendMessage", chat_id=group.id, text="21st")
    assert status == 429 and body["parameters"]["retry_after"] == 3  # 20 a minute: one every 3 s
    assert [(r.chat_id, r.injected) for r in server.rate_limited] == [(alice.id, False), (group.id, False)]

    server.flood_limits = FloodLimits(global_per_second=0.5, global_burst=3)
    users = [server.add_user(f"U{n}") for n in range(4)]
    answers = [api("sendMessage", chat_id=u.id, text="hi")[0] for u in users]
    assert answers == [200, 200, 200, 429]

    server.flood_limits = None
    assert {api("sendMessage", chat_id=alice.id, text="x")[0] for _ in range(10)} == {200}


def test_injected_faults(server: FakeTelegram, api: Api) -> None:
    alice, bob = server.add_user("Alice"), server.add_user("Bob")
    server.fail_next("sendMessage", 429, retry_after=2)
    server.fail_next("sendMessage", 403, chat_id=bob)
    server.fail_next("sendChatAction", 400, description="Bad Request: not today", times=2)
    server.drop_next("sendMessage", chat_id=alice.id)

    status, body = api("sendMessage", chat_id=bob.id, text="x")
    assert (status, body["parameters"]) == (429, {"retry_after": 2})
    assert error(api("sendMessage", chat_id=bob.id, text="x")) == (403, "Forbidden: bot was blocked by the user")
    assert error(api("sendChatAction", chat_id=bob.id, action="typing")) == (400, "Bad Request: not today")
    assert error(api("sendChatAction", chat_id=bob.id, action="typing")) == (400, "Bad Request: not today")
    assert ok(api("sendChatAction", chat_id=bob.id, action="typing")) is True
    with pytest.raises(httpx.RemoteProtocolError):
        api("sendMessage", chat_id=alice.id, text="x")
    assert ok(api("sendMessage", chat_id=alice.id, text="x"))["text"] == "x"
    assert [r.status for r in server.requests] == [429, 403, 400, 400, 200, 0, 200]
    assert server.texts(alice) == ["x"] and server.texts(bob) == []
    assert [r.injected for r in server.rate_limited] == [True]


def test_wrong_token_and_unknown_method(api: Api) -> None:
    assert error(api("getMe", token="123:" + "A" * 35)) == (401, "Unauthorized")
    assert error(api("getMe", token="nonsense")) == (404, "Not Found")
    assert error(api("getMee")) == (404, "Not Found")
    assert ok(api("getme"))["username"] == "brief_test_bot"


def test_commands_webhook_chat_and_member(server: FakeTelegram, api: Api) -> None:
    alice = server.add_user("Alice")
    group = server.add_supergroup("Club", username="club", members=[alice])
    commands = [{"command": "ask", "description": "Ask the archive"}]
    assert ok(api("setMyCommands", commands=commands)) is True
    assert ok(api("getMyCommands")) == commands
    assert ok(api("getMyCommands", scope={"type": "all_group_chats"})) == []
    assert error(api("setMyCommands", commands=[{"command": "Ask!", "description": "x"}]))[1] == (
        "Bad Request: BOT_COMMAND_INVALID"
    )
    assert ok(api("deleteMyCommands")) is True and ok(api("getMyCommands")) == []
    assert ok(api("setWebhook", url="https://bot.example/hook")) is True
    assert ok(api("getWebhookInfo"))["url"] == "https://bot.example/hook"
    assert error(api("getUpdates"))[0] == 409
    assert ok(api("deleteWebhook", drop_pending_updates=True)) is True
    assert ok(api("getChat", chat_id="@club"))["id"] == group.id
    assert ok(api("getChatMember", chat_id=group.id, user_id=alice.id))["status"] == "member"
    assert ok(api("close")) is True and ok(api("logOut")) is True


def test_method_table_matches_bot_api_10_spec() -> None:
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is absent")
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    assert spec["version"].startswith("Bot API 10.0")
    for name, params in METHODS.items():
        assert name in spec["methods"], name
        expected = {f["name"]: (tuple(f["types"]), f["required"]) for f in spec["methods"][name].get("fields", [])}
        assert {p: (v.types, v.required) for p, v in params.items()} == expected, name
    assert set(UPDATE_TYPES) == {f["name"] for f in spec["types"]["Update"]["fields"]} - {"update_id"}


# --- the real python-telegram-bot against the fake ----------------------------------------------------------


@pytest.fixture
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns (an error here) whenever it builds RetryAfter, unless its time periods are timedeltas."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text, in bold."""
    assert update.effective_message is not None and update.effective_message.text is not None
    await update.effective_message.reply_html(f"<b>{update.effective_message.text}</b>")


@contextlib.asynccontextmanager
async def polling(app: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Run the application's polling loop for the duration of the block."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0)
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


async def test_python_telegram_bot_polls_and_replies(server: FakeTelegram) -> None:
    alice = server.add_user("Alice", username="alice")
    app = server.application_builder().build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with polling(app):
        server.add_message(alice, alice, "hello")
        [reply] = await server.async_wait_for_messages(alice, 1)
    assert reply.text == "hello" and reply.source == "<b>hello</b>"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert server.failed_requests == [] and server.rate_limited == []
    assert [r.method for r in server.requests][:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert next(r.params for r in server.requests if r.method == "getUpdates") == {"timeout": 10, "offset": 0}


async def test_rate_limiter_waits_out_an_injected_429(server: FakeTelegram, ptb_timedelta: None) -> None:
    alice = server.add_user("Alice")
    app = server.application_builder().rate_limiter(AIORateLimiter(max_retries=2)).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    server.fail_next("sendMessage", 429, retry_after=1)
    async with polling(app):
        server.add_message(alice, alice, "still there?")
        started = time.monotonic()
        [reply] = await server.async_wait_for_messages(alice, 1, timeout=10)
        waited = time.monotonic() - started
    assert reply.text == "still there?" and waited >= 1
    assert [r.status for r in server.requests if r.method == "sendMessage"] == [429, 200]


async def test_python_telegram_bot_sees_telegram_errors(server: FakeTelegram, ptb_timedelta: None) -> None:
    alice = server.add_user("Alice")
    app = server.application_builder().build()
    async with app:
        bot = app.bot
        assert (await bot.get_me()).username == server.bot.username
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(alice.id, "<b>x", parse_mode="HTML")
        server.fail_next("sendMessage", 429, retry_after=3)
        with pytest.raises(RetryAfter):
            await bot.send_message(alice.id, "x")
        server.block(alice)
        with pytest.raises(Forbidden):
            await bot.send_message(alice.id, "x")
        server.drop_next("sendChatAction")
        with pytest.raises(NetworkError):
            await bot.send_chat_action(alice.id, "typing")
        assert (await bot.get_chat(alice.id)).id == alice.id


async def test_python_telegram_bot_parses_every_update_the_fake_makes(server: FakeTelegram) -> None:
    alice = server.add_user("Alice", username="alice")
    forum = server.add_supergroup("Forum", forum=True, members=[alice], bot_status="administrator")
    topic = server.add_forum_topic(forum, "Markets")
    channel = server.add_channel("Wire", username="wire")
    group = server.add_group("Club", members=[alice])
    async with server.application_builder().build() as app:
        sent = await app.bot.send_message(forum.id, "pick", message_thread_id=topic)
        question = server.add_message(forum, alice, "/ask@brief_test_bot rates?", thread_id=topic)
        server.add_edited_message(question, "/ask@brief_test_bot rates today?")
        server.add_sticker(alice, alice)
        server.add_channel_post(channel, "Breaking #news")
        server.add_callback_query(forum, alice, sent.message_id, "more")
        server.add_my_chat_member(group, alice, new_status="left")
        new_group = server.migrate_group(group)
        updates = await app.bot.get_updates()
    assert sent.is_topic_message and sent.message_thread_id == topic
    message = updates[0].message
    assert message is not None and message.message_thread_id == topic
    assert message.parse_entities() and updates[1].edited_message is not None
    assert updates[2].message is not None and updates[2].message.sticker is not None
    assert updates[3].channel_post is not None and updates[3].channel_post.sender_chat is not None
    assert updates[4].callback_query is not None and updates[4].callback_query.data == "more"
    assert updates[5].my_chat_member is not None and updates[5].my_chat_member.new_chat_member.status == "left"
    assert updates[6].message is not None and updates[6].message.migrate_to_chat_id == new_group.id
    assert updates[7].message is not None and updates[7].message.migrate_from_chat_id == group.id
    assert len(updates) == 8
