"""Digests and briefings: a period's articles clustered into stories, ranked, summarised, cited and rendered."""

from bot.digest.brief import Briefing, brief_window, briefing_request, compose_briefing
from bot.digest.compose import LEAD_CHARS, compose_digest, compose_digest_async, matches_topic
from bot.digest.render import DEFAULT_EMPTY_TEXT, render_digest, render_digest_text
from bot.digest.stories import Digest, Story
from bot.digest.summaries import SummaryModel, lead_summary, summarize_stories

__all__ = [
    "DEFAULT_EMPTY_TEXT",
    "LEAD_CHARS",
    "Briefing",
    "Digest",
    "Story",
    "SummaryModel",
    "brief_window",
    "briefing_request",
    "compose_briefing",
    "compose_digest",
    "compose_digest_async",
    "lead_summary",
    "matches_topic",
    "render_digest",
    "render_digest_text",
    "summarize_stories",
]
