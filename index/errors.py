"""Errors a user can act on.

BriefbotError            every error the CLI prints as one line and exits non-zero for
 +-- ConfigError         settings are wrong or missing (exit 2)
 +-- SourceError         one feed, page, file or record could not be ingested; the others go on
 +-- IndexMismatchError  the archive was built with another embedding model: run `briefbot reindex`
 +-- EmbeddingError      the embedding backend failed after its retries
 +-- StorageError        the home cannot be written: read-only, full disk, no permission
 +-- RefusedError        an operation refused as asked (exit 2): restore into a home that is not empty, ...
"""

from __future__ import annotations


class BriefbotError(Exception):
    """Base class: its message is shown to the user as is."""

    exit_code = 1


class ConfigError(BriefbotError):
    """Settings are missing or invalid."""

    exit_code = 2


class SourceError(BriefbotError):
    """One source (file, URL, feed entry, record) failed; carries the source it is about."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class IndexMismatchError(BriefbotError):
    """The stored vectors were made by another embedding model than the configured one."""


class EmbeddingError(BriefbotError):
    """The embedding backend failed."""


class StorageError(BriefbotError):
    """The home cannot be written (read-only, full disk, no permission) or read; nothing half-written stays."""


class RefusedError(BriefbotError):
    """An operation refused as asked, before it changed anything: a restore into a home that is not empty, from
    a folder that is not a briefbot backup; a backup into a folder that is not empty."""

    exit_code = 2
