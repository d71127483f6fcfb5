"""LLM prompt templates, loaded by name (``load("answer")`` reads ``answer.txt``)."""

from __future__ import annotations

from importlib import resources


def load(name: str) -> str:
    """The text of the prompt template ``name``."""
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
