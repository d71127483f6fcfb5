"""All of briefbot's settings: the index's (``index.settings``) plus answers, Telegram, access and digests.

Environment variables ``BRIEFBOT_<FIELD>`` (and ``TELEGRAM_BOT_TOKEN``), or the same names in lower case in
``briefbot.toml`` (``BRIEFBOT_CONFIG`` points elsewhere).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsError

from index.errors import ConfigError
from index.settings import IndexSettings

IdList = Annotated[list[int], NoDecode]


def _ids(value: object) -> object:
    """Accept "1,2, 3" from the environment as well as lists from TOML."""
    if isinstance(value, str):
        return [int(v) for v in value.replace(";", ",").split(",") if v.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(IndexSettings):
    """briefbot's settings, each with its environment variable ``BRIEFBOT_<NAME>``."""

    # -- answers --------------------------------------------------------------------------------------------
    llm_model: str | None = Field(
        default=None,
        description=(
            "Chat model for LLM answers on an OpenAI-compatible endpoint (OPENAI_API_KEY, OPENAI_BASE_URL). "
            "Empty: extractive answers, offline."
        ),
    )
    llm_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds one LLM answer may take in all, first byte to last token, retries included; past it the "
            "verified part is kept, else the extractive answer is given. On a CPU server, reading a long prompt "
            "alone can take this long: lower llm_context_tokens too."
        ),
    )
    llm_max_tokens: int = Field(default=400, ge=16, description="Tokens an LLM answer may have at most.")
    llm_summary_max_tokens: int = Field(default=120, ge=16, description="Tokens an LLM story summary may have.")
    llm_max_retries: int = Field(
        default=1, ge=0, le=5, description="Retries of a rate limit or server error, within llm_timeout."
    )
    llm_context_tokens: int = Field(default=6000, description="Token budget for passages in the LLM prompt.")
    answer_k: int = Field(default=8, ge=1, le=50, description="Passages retrieved per question.")
    max_question_chars: int = Field(default=500, description="Longer questions are refused politely.")

    # -- Telegram -------------------------------------------------------------------------------------------
    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "BRIEFBOT_TELEGRAM_TOKEN", "telegram_token"),
        description="Bot token from @BotFather (env TELEGRAM_BOT_TOKEN). Never logged.",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL, for a self-hosted Bot API server.",
    )
    webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL for webhook mode; empty means long polling."
    )
    webhook_listen: str = Field(default="127.0.0.1:8443", description="host:port the webhook server listens on.")
    webhook_secret: SecretStr | None = Field(default=None, description="Secret token Telegram sends with webhooks.")
    allowed_users: IdList = Field(
        default_factory=list,
        description="User ids who may ask anywhere (comma-separated). Empty + no chats: open.",
    )
    allowed_chats: IdList = Field(
        default_factory=list, description="Group chat ids whose members may ask there (comma-separated)."
    )
    admins: IdList = Field(default_factory=list, description="User ids allowed admin commands.")
    rate_limit_per_minute: int = Field(default=10, description="Questions one user may ask per minute.")
    history_turns: int = Field(default=3, description="Previous turns of a chat used for follow-up questions.")

    # -- digests --------------------------------------------------------------------------------------------
    poll_minutes: float = Field(default=30.0, description="Minutes between polls of the registered feeds; 0: off.")
    digest_default_time: str = Field(default="08:00", description="Default local time of a new subscription.")
    digest_max_stories: int = Field(default=8, description="Stories per digest at most.")
    digest_late_hours: float = Field(
        default=6.0,
        description="A digest missed while the bot was down is sent on start if at most this late.",
    )
    digest_skip_empty: bool = Field(default=False, description="Skip an empty digest instead of saying so.")

    # -- retention ------------------------------------------------------------------------------------------
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=3_000_000,
        description=(
            "Days of news to keep: once a day the bot prunes articles published longer ago (undated ones: "
            "ingested), with their passages, vectors and cache entries. Empty: keep everything."
        ),
    )

    _split_ids = field_validator("allowed_users", "allowed_chats", "admins", mode="before")(_ids)

    @field_validator("retention_days", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        """``BRIEFBOT_RETENTION_DAYS=`` (empty) means unset: keep everything."""
        return None if isinstance(value, str) and not value.strip() else value

    def retention_cutoff(self, now: datetime) -> datetime | None:
        """The moment before which articles are pruned (``retention_days`` before ``now``); None: keep all."""
        if not self.retention_days:
            return None
        try:
            return now.astimezone(UTC) - timedelta(days=self.retention_days)
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)

    @property
    def state_path(self) -> Path:
        return self.home / "state.sqlite3"

    @property
    def telegram_file_url(self) -> str:
        """The file download base of ``telegram_api_url``: ``https://host/bot`` -> ``https://host/file/bot``."""
        api = self.telegram_api_url.rstrip("/")
        if api.endswith("/bot"):
            return api[: -len("/bot")] + "/file/bot"
        parts = urlsplit(api)
        return f"{parts.scheme}://{parts.netloc}/file/bot"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and briefbot.toml; errors become ``ConfigError`` with the field named."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:
        raise ConfigError(f"invalid settings: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None
