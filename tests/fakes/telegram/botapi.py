"""The Bot API methods the fake serves, with the checks Telegram makes (one method per Bot API method; the
server's dispatch first)."""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    pass


from tests.fakes.telegram.model import (
    RateLimitRecord,
    RequestRecord,
    SentCall,
    _ApiError,
    _Bucket,
    _ChatState,
    _ClientGone,
    _Dropped,
)
from tests.fakes.telegram.parse_mode import HtmlParseError, parse_html, utf16_len
from tests.fakes.telegram.spec import (
    _MISSING_DESCRIPTIONS,
    _TOKEN_SHAPE,
    CHAT_ACTIONS,
    DEFAULT_UPDATE_TYPES,
    GETUPDATES_CONFLICT,
    JSON,
    LEGACY_PARAMS,
    METHODS,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
)
from tests.fakes.telegram.wire import _coerce, _parse_body


class _BotApi:
    """The HTTP dispatch and the Bot API methods (mixed into ``FakeTelegram``)."""

    # --- internals: HTTP dispatch ----------------------------------------------------------------------------------

    def _serve(
        self, path: str, query: str, content_type: str, body: bytes, client_gone: Callable[[], bool]
    ) -> tuple[int, JSON]:
        """Answer one HTTP request: (status, Telegram-shaped JSON). Raises _Dropped to close the socket."""
        method, params = "", cast(JSON, {})
        try:
            match = re.fullmatch(r"/bot([^/]*)/([^/]*)", path)
            if match is None:
                raise _ApiError(404, "Not Found")
            token, method = match.groups()
            if token != self.token:
                raise _ApiError(401, "Unauthorized") if _TOKEN_SHAPE.fullmatch(token) else _ApiError(404, "Not Found")
            canonical = {name.lower(): name for name in METHODS}.get(method.lower())
            if canonical is None:
                raise _ApiError(404, "Not Found")
            method = canonical
            raw = dict(parse_qsl(query, keep_blank_values=True))
            raw.update(_parse_body(content_type, body))
            params = self._check_params(method, raw)
            if method == "getUpdates":
                result = self._get_updates(params, client_gone)  # waits without holding the lock
                with self._cond:
                    self.requests.append(RequestRecord(method, params, 200, None, time.monotonic()))
                    self._cond.notify_all()
                return 200, {"ok": True, "result": result}
            with self._cond:
                self._apply_fault(method, params)
                result = getattr(self, f"_api_{method}")(params)
                now = time.monotonic()
                self.requests.append(RequestRecord(method, params, 200, None, now))
                self.sent.append(SentCall(method, params, copy.deepcopy(result), now))
                self._cond.notify_all()
            return 200, {"ok": True, "result": result}
        except _ClientGone:
            raise
        except _Dropped:
            with self._cond:
                self.requests.append(RequestRecord(method, params, 0, "connection dropped", time.monotonic()))
                self._cond.notify_all()
            raise
        except Exception as error:  # a bug in the fake: answer 500 and keep it visible in requests
            if not isinstance(error, _ApiError):
                error = _ApiError(500, f"Internal Server Error: fake Telegram failed: {error!r}")
            answer: JSON = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                answer["parameters"] = error.parameters
            with self._cond:
                self.requests.append(RequestRecord(method, params, error.code, error.description, time.monotonic()))
                self._cond.notify_all()
            return error.code, answer

    def _check_params(self, method: str, raw: dict[str, Any]) -> JSON:
        table = {**METHODS[method], **LEGACY_PARAMS.get(method, {})}
        for name in raw:
            if name not in table:
                raise _ApiError(400, f'Bad Request: unknown parameter "{name}" for method {method}')
        for name, param in table.items():
            if param.required and name not in raw:
                raise _ApiError(400, _MISSING_DESCRIPTIONS.get(name, f'Bad Request: parameter "{name}" is required'))
        return {name: _coerce(name, value, table[name].types) for name, value in raw.items()}

    def _apply_fault(self, method: str, params: JSON) -> None:
        for fault in self._faults:
            if fault.method not in (method, "*") or (fault.method == "*" and method == "getUpdates"):
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            if fault.drop:
                raise _Dropped
            parameters = None
            if fault.retry_after is not None:
                parameters = {"retry_after": fault.retry_after}
                self.rate_limited.append(
                    RateLimitRecord(method, params.get("chat_id"), fault.retry_after, True, time.monotonic())
                )
            raise _ApiError(fault.error_code, fault.description, parameters)

    def _flood_check(self, method: str, state: _ChatState) -> None:
        limits = self.flood_limits
        if limits is None or method not in limits.methods:
            return
        if limits is not self._bucket_limits:
            self._buckets, self._bucket_limits = {}, limits
        now = time.monotonic()
        private = state.chat.type == "private"
        keys = [("global", 0), ("chat", state.chat.id)]
        for key in keys:
            if key not in self._buckets:
                if key[0] == "global":
                    self._buckets[key] = _Bucket(limits.global_per_second, limits.global_burst, now)
                elif private:
                    self._buckets[key] = _Bucket(limits.private_per_second, limits.private_burst, now)
                else:
                    self._buckets[key] = _Bucket(limits.group_per_minute / 60, limits.group_burst, now)
        wait = max(self._buckets[key].wait(now) for key in keys)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.rate_limited.append(RateLimitRecord(method, state.chat.id, retry_after, False, now))
            raise _ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for key in keys:
            self._buckets[key].take()

    # --- internals: checks shared by methods -------------------------------------------------------------------

    def _resolve_chat(self, value: int | str) -> _ChatState:
        if isinstance(value, str):
            wanted = value.lstrip("@").lower()
            for candidate in self._chats.values():
                if candidate.chat.type != "private" and (candidate.chat.username or "").lower() == wanted:
                    return candidate
            raise _ApiError(400, "Bad Request: chat not found")
        state = self._chats.get(value)
        if state is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if state.migrated_to is not None:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": state.migrated_to},
            )
        return state

    def _writable_chat(self, value: int | str) -> _ChatState:
        state = self._resolve_chat(value)
        kind = state.chat.type
        if kind == "private":
            if state.blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if not state.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif state.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        elif state.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        elif kind == "channel" and state.bot_status not in ("administrator", "creator"):
            raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return state

    def _check_thread(self, state: _ChatState, thread_id: int | None) -> None:
        if thread_id is not None and thread_id not in state.topics:
            raise _ApiError(400, "Bad Request: message thread not found")

    def _render(self, params: JSON) -> tuple[str, list[JSON]]:
        text: str = params["text"]
        mode = params.get("parse_mode")
        if mode:
            if mode.lower() == "html":
                try:
                    visible, entities = parse_html(text, strict=self.strict_html)
                except HtmlParseError as error:
                    raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
            elif mode.lower() in ("markdown", "markdownv2"):
                visible, entities = text, []  # not parsed by this fake: the bot speaks HTML
            else:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
        else:
            visible, entities = text, [dict(e) for e in params.get("entities") or []]
        # Telegram trims surrounding whitespace, then counts in UTF-16 code units.
        lead = utf16_len(visible) - utf16_len(visible.lstrip())
        visible = visible.strip()
        size = utf16_len(visible)
        if size == 0:
            raise _ApiError(400, "Bad Request: message text is empty")
        if size > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        trimmed = []
        for entity in entities:
            start = max(0, entity["offset"] - lead)
            end = min(size, entity["offset"] + entity["length"] - lead)
            if end > start:
                trimmed.append({**entity, "offset": start, "length": end - start})
        return visible, trimmed

    @staticmethod
    def _check_markup(markup: JSON | None) -> JSON | None:
        """The inline keyboard to attach to the message (None for reply keyboards), validated."""
        if markup is None or "inline_keyboard" not in markup:
            if markup is not None and not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
                raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(
                400,
                'Bad Request: can\'t parse inline keyboard button: field "inline_keyboard" must be an Array of Array',
            )
        actions = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                   "callback_game", "pay")  # fmt: skip
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _ApiError(
                        400, 'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                chosen = [key for key in actions if key in button]
                if len(chosen) != 1:
                    raise _ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://\S", str(button["url"])):
                    raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
                if not button["text"]:
                    raise _ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup

    # --- the Bot API methods ------------------------------------------------------------------------------------

    def _get_updates(self, params: JSON, client_gone: Callable[[], bool]) -> list[JSON]:
        offset = params.get("offset")
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self.webhook_url:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if "allowed_updates" in params:
                self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
            while True:
                if client_gone():
                    raise _ClientGone  # an abandoned poll is no conflict and no failure
                if generation != self._poll_generation:
                    raise _ApiError(409, GETUPDATES_CONFLICT)
                # Updates of types the bot did not ask for are dropped, as Telegram does.
                self._updates = [u for u in self._updates if self._update_kind(u) in self._allowed_updates]
                if self._updates or self._closing:
                    return copy.deepcopy(self._updates[:limit])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(min(remaining, 0.1))

    @staticmethod
    def _update_kind(update: JSON) -> str:
        return next(key for key in update if key != "update_id")

    def _api_getMe(self, params: JSON) -> JSON:
        return {
            **self.bot.to_dict(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_sendMessage(self, params: JSON) -> JSON:
        state = self._writable_chat(params["chat_id"])
        thread_id = params.get("message_thread_id")
        self._check_thread(state, thread_id)
        visible, entities = self._render(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_id, allow_without = params.get("reply_to_message_id"), params.get("allow_sending_without_reply", False)
        reply = params.get("reply_parameters")
        if reply is not None:
            if not isinstance(reply.get("message_id"), int):
                raise _ApiError(400, "Bad Request: can't parse reply parameters JSON object")
            reply_id, allow_without = reply["message_id"], reply.get("allow_sending_without_reply", False)
            if reply.get("chat_id") not in (None, state.chat.id):
                raise _ApiError(400, "Bad Request: message to be replied not found")
        if reply_id is not None:
            replied = state.messages.get(reply_id)
            if replied is None or replied.deleted:
                if not allow_without:
                    raise _ApiError(400, "Bad Request: message to be replied not found")
                reply_id = None
        self._flood_check("sendMessage", state)
        extra: JSON = {"text": visible}
        if entities:
            extra["entities"] = entities
        if markup is not None:
            extra["reply_markup"] = markup
        if params.get("link_preview_options"):
            extra["link_preview_options"] = params["link_preview_options"]
        message = self._new_message(state, self.bot, extra=extra, thread_id=thread_id, reply_to=reply_id)
        message.text, message.source, message.parse_mode = visible, params["text"], params.get("parse_mode")
        return copy.deepcopy(message.data)

    def _api_editMessageText(self, params: JSON) -> JSON:
        if "inline_message_id" in params:
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        if "chat_id" not in params:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if "message_id" not in params:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        state = self._writable_chat(params["chat_id"])
        message = state.messages.get(params["message_id"])
        if message is None or message.deleted:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot or message.text is None:
            raise _ApiError(400, "Bad Request: message can't be edited")
        visible, entities = self._render(params)
        # Leaving out reply_markup removes the keyboard, as in Telegram.
        markup = self._check_markup(params.get("reply_markup"))
        if (visible, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise _ApiError(400, NOT_MODIFIED)
        self._flood_check("editMessageText", state)
        message.history.append(message.text)
        message.text, message.source, message.parse_mode = visible, params["text"], params.get("parse_mode")
        message.data["text"] = visible
        message.data.pop("entities", None)
        message.data.pop("reply_markup", None)
        if entities:
            message.data["entities"] = entities
        if markup is not None:
            message.data["reply_markup"] = markup
        message.data["edit_date"] = int(self.clock())
        return copy.deepcopy(message.data)

    def _api_deleteMessage(self, params: JSON) -> bool:
        state = self._resolve_chat(params["chat_id"])
        message = state.messages.get(params["message_id"])
        if message is None or message.deleted:
            raise _ApiError(400, "Bad Request: message to delete not found")
        if (
            not message.from_bot
            and state.chat.type != "private"
            and state.bot_status not in ("administrator", "creator")
        ):
            raise _ApiError(400, "Bad Request: message can't be deleted")
        message.deleted = True
        return True

    def _api_sendChatAction(self, params: JSON) -> bool:
        state = self._writable_chat(params["chat_id"])
        self._check_thread(state, params.get("message_thread_id"))
        if params["action"] not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_answerCallbackQuery(self, params: JSON) -> bool:
        query = self.callback_queries.get(params["callback_query_id"])
        if query is None or query.answered or time.monotonic() - query.created > self.callback_query_ttl:
            raise _ApiError(400, QUERY_TOO_OLD)
        if len(params.get("text") or "") > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered, query.answer_text = True, params.get("text")
        query.show_alert = bool(params.get("show_alert", False))
        return True

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope.get("type"), str):
            raise _ApiError(400, "Bad Request: can't parse scope JSON object")
        return json.dumps(scope, sort_keys=True), params.get("language_code", "")

    def _api_setMyCommands(self, params: JSON) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(command.get("description"), str) or not 1 <= len(command["description"]) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _api_getMyCommands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _api_deleteMyCommands(self, params: JSON) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_deleteWebhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setWebhook(self, params: JSON) -> bool:
        url = params["url"]
        if url and not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getWebhookInfo(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        return info

    def _api_getChatMember(self, params: JSON) -> JSON:
        state = self._resolve_chat(params["chat_id"])
        user = self._users.get(params["user_id"])
        if user is None:
            raise _ApiError(400, "Bad Request: user not found")
        if user.id == self.bot.id:
            status = state.bot_status if state.chat.type != "private" else "member"
        else:
            status = state.members.get(user.id, "left")
        return self._chat_member(status, user)

    def _api_getChat(self, params: JSON) -> JSON:
        state = self._resolve_chat(params["chat_id"])
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
        return {
            **state.chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }

    def _api_close(self, params: JSON) -> bool:
        return True

    def _api_logOut(self, params: JSON) -> bool:
        return True
