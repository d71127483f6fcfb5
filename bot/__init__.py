"""briefbot's conversation: answers, digests, Telegram handlers, rendering, chat state and the command line."""
