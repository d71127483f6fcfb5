"""Typed settings for the index: environment variables ``BRIEFBOT_*`` and an optional ``briefbot.toml``.

The bot's settings (``bot.settings.Settings``) extend these, so one file and one prefix configure everything.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _toml_path() -> Path:
    return Path(os.environ.get("BRIEFBOT_CONFIG", "briefbot.toml"))


class IndexSettings(BaseSettings):
    """Where the archive lives and how articles become passages and vectors."""

    model_config = SettingsConfigDict(env_prefix="BRIEFBOT_", extra="forbid", validate_default=True)

    home: Path = Field(
        default=Path("data"),
        description="Directory holding all state: Chroma, the SQLite catalog, caches. Relocate with BRIEFBOT_HOME.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="http://host:port of a Chroma server; empty means a local PersistentClient under the home.",
    )
    collection: str = Field(default="passages", description="Chroma collection name for passages.")
    embedding_model: str = Field(
        default="local:all-MiniLM-L6-v2",
        description=(
            "Embedding model: 'local:all-MiniLM-L6-v2' (offline ONNX, the default) or the name of a model on an "
            "OpenAI-compatible endpoint (uses OPENAI_API_KEY and BRIEFBOT_EMBEDDING_BASE_URL or OPENAI_BASE_URL)."
        ),
    )
    embedding_base_url: str | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible embedding endpoint (default: OPENAI_BASE_URL).",
    )
    embedding_batch: int = Field(
        default=16, ge=1, le=2048, description="Passages per embedding batch (16 keeps the local model under 1 GB)."
    )
    chunk_tokens: int = Field(default=220, ge=32, le=1024, description="Target passage size in tokens.")
    chunk_overlap: int = Field(default=30, ge=0, le=256, description="Tokens of overlap between passages.")
    tokenizer: str = Field(default="cl100k_base", description="tiktoken encoding for counting passage tokens.")
    max_file_bytes: int = Field(
        default=500_000_000, description="Files larger than this are refused (a .gz is measured uncompressed)."
    )
    max_page_bytes: int = Field(default=5_000_000, description="Web pages and feeds larger than this are refused.")
    max_article_chars: int = Field(
        default=200_000,
        ge=1,
        description=(
            "Articles with more characters of text than this are refused, each with one error naming it; the "
            "others still go in (200,000 is about 100 pages, some 250 passages)."
        ),
    )
    fetch_timeout: float = Field(default=20.0, description="Seconds before a web request gives up.")
    max_redirects: int = Field(default=5, description="Redirects followed before a request fails.")
    user_agent: str = Field(default="briefbot/0.1 (+self-hosted news briefing bot)", description="HTTP User-Agent.")
    feed_max_failures: int = Field(
        default=5, description="Consecutive failures after which a registered feed is paused."
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let URLs sent from chats reach private, loopback and link-local addresses.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then briefbot.toml.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite3"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home
