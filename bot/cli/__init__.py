"""The ``briefbot`` command line. Commands are thin: they call the same services the Telegram bot calls.

``app`` holds the group and what commands share; ``archive``, ``answers``, ``digests``, ``doctor`` and
``maintenance`` hold the commands. Every command's ``--help`` is its documentation.
"""

from bot.cli import answers, archive, digests, doctor, maintenance
from bot.cli.app import cli

__all__ = ["answers", "archive", "cli", "digests", "doctor", "main", "maintenance"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="briefbot")
