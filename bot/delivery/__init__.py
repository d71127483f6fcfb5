"""Getting digests and alerts into chats: when (schedules), how (the outbox: once, within flood limits), to whom
(broadcasts), and feed polling with its alerts."""
