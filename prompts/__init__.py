"""LLM prompt templates, loaded by name (``load("answer")`` reads ``answer.txt``)."""

from __future__ import annotations

from importlib import resources


def load(name: str, **fields: str) -> str:
    """The text of the prompt template ``name``, each ``{field}`` in it replaced by the value given for it."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return text
