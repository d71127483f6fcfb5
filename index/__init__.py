"""briefbot's knowledge: getting articles in (sources, extraction, chunking, embedding, storage) and passages out.

Nothing here knows about Telegram or LLMs.
"""
