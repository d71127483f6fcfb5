"""``python -m bot.cli``: the same as the ``briefbot`` command."""

from bot.cli import main

main()
