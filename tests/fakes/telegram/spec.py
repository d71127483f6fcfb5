"""The Bot API as the fake knows it: the method table (names, parameters, types, required flags exactly as in Bot
API 10.0), update types, chat actions and Telegram's error texts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    pass


JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "5550001234:AAFakeTokenForTests-0123456789abcdef"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{35}")


# --------------------------------------------------------------------------------------------------------------
# The method table: names, parameters, types and required flags exactly as in Bot API 10.0.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a Bot API method, typed as in the Bot API documentation."""

    types: tuple[str, ...]
    required: bool = False


def _req(*types: str) -> Param:
    return Param(types, True)


def _opt(*types: str) -> Param:
    return Param(types, False)


_CHAT_ID = ("Integer", "String")
_SCOPE_PARAMS = {"scope": _opt("BotCommandScope"), "language_code": _opt("String")}

METHODS: dict[str, dict[str, Param]] = {
    "getMe": {},
    "getUpdates": {
        "offset": _opt("Integer"),
        "limit": _opt("Integer"),
        "timeout": _opt("Integer"),
        "allowed_updates": _opt("Array of String"),
    },
    "sendMessage": {
        "business_connection_id": _opt("String"),
        "chat_id": _req(*_CHAT_ID),
        "message_thread_id": _opt("Integer"),
        "direct_messages_topic_id": _opt("Integer"),
        "text": _req("String"),
        "parse_mode": _opt("String"),
        "entities": _opt("Array of MessageEntity"),
        "link_preview_options": _opt("LinkPreviewOptions"),
        "disable_notification": _opt("Boolean"),
        "protect_content": _opt("Boolean"),
        "allow_paid_broadcast": _opt("Boolean"),
        "message_effect_id": _opt("String"),
        "suggested_post_parameters": _opt("SuggestedPostParameters"),
        "reply_parameters": _opt("ReplyParameters"),
        "reply_markup": _opt("InlineKeyboardMarkup", "ReplyKeyboardMarkup", "ReplyKeyboardRemove", "ForceReply"),
    },
    "editMessageText": {
        "business_connection_id": _opt("String"),
        "chat_id": _opt(*_CHAT_ID),
        "message_id": _opt("Integer"),
        "inline_message_id": _opt("String"),
        "text": _req("String"),
        "parse_mode": _opt("String"),
        "entities": _opt("Array of MessageEntity"),
        "link_preview_options": _opt("LinkPreviewOptions"),
        "reply_markup": _opt("InlineKeyboardMarkup"),
    },
    "deleteMessage": {"chat_id": _req(*_CHAT_ID), "message_id": _req("Integer")},
    "sendChatAction": {
        "business_connection_id": _opt("String"),
        "chat_id": _req(*_CHAT_ID),
        "message_thread_id": _opt("Integer"),
        "action": _req("String"),
    },
    "answerCallbackQuery": {
        "callback_query_id": _req("String"),
        "text": _opt("String"),
        "show_alert": _opt("Boolean"),
        "url": _opt("String"),
        "cache_time": _opt("Integer"),
    },
    "setMyCommands": {"commands": _req("Array of BotCommand"), **_SCOPE_PARAMS},
    "getMyCommands": dict(_SCOPE_PARAMS),
    "deleteMyCommands": dict(_SCOPE_PARAMS),
    "deleteWebhook": {"drop_pending_updates": _opt("Boolean")},
    "setWebhook": {
        "url": _req("String"),
        "certificate": _opt("InputFile"),
        "ip_address": _opt("String"),
        "max_connections": _opt("Integer"),
        "allowed_updates": _opt("Array of String"),
        "drop_pending_updates": _opt("Boolean"),
        "secret_token": _opt("String"),
    },
    "getWebhookInfo": {},
    "getChatMember": {"chat_id": _req(*_CHAT_ID), "user_id": _req("Integer")},
    "getChat": {"chat_id": _req(*_CHAT_ID)},
    "close": {},
    "logOut": {},
}

# Parameters Telegram still accepts although the documentation dropped them; not part of the spec check.
LEGACY_PARAMS: dict[str, dict[str, Param]] = {
    "sendMessage": {
        "reply_to_message_id": _opt("Integer"),
        "allow_sending_without_reply": _opt("Boolean"),
        "disable_web_page_preview": _opt("Boolean"),
    },
    "editMessageText": {"disable_web_page_preview": _opt("Boolean")},
}

UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "guest_message",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
    "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member",
    "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost", "managed_bot",
)  # fmt: skip
# What getUpdates delivers while allowed_updates was never set (or set to []).
DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip

_MISSING_DESCRIPTIONS = {
    "chat_id": "Bad Request: chat_id is empty",
    "text": "Bad Request: message text is empty",
    "message_id": "Bad Request: message identifier is not specified",
    "callback_query_id": "Bad Request: query_id is empty",
    "action": "Bad Request: wrong parameter action in request",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
GETUPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
