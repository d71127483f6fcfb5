"""The Telegram front door: the PTB application, its handlers, rendering of answers, live messages, access."""
