"""A fake OpenAI-compatible server on 127.0.0.1: ``POST /v1/chat/completions``, plain or streamed (SSE), and
``POST /v1/embeddings`` (deterministic bag-of-words vectors).

    with FakeOpenAI(chunk_delay=0.1) as llm:          # OPENAI_BASE_URL=llm.base_url, any OPENAI_API_KEY
        ...                                           # the bot asks; llm.requests has what it sent

By default it answers like a well-behaved model: it quotes the first sentence of passage [1] of the prompt
verbatim and cites it, then adds ``extra`` (text the verification must drop, e.g. an uncited claim). ``reply``
replaces that with any function of the request's messages. Streamed replies come a few words per chunk,
``chunk_delay`` seconds apart, in the wire format of the OpenAI API (``data: {chunk}`` lines, ``data: [DONE]``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]

_PASSAGE = re.compile(r"\[(\d+)\][^\n]*\n<passage>\n(.*?)\n</passage>", re.DOTALL)
_REFUSAL = re.compile(r"reply with exactly this sentence and nothing else:\s*(?P<sentence>[^\n]+)")


def refusal(messages: list[JSON]) -> str:
    """The sentence the system prompt tells the model to reply with when the passages do not answer: the fake
    model follows its instructions, so the phrase lives in the prompt alone."""
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    found = _REFUSAL.search(system)
    return found["sentence"].strip() if found else "I cannot answer that."


def quote_first_passage(messages: list[JSON], extra: str = "") -> str:
    """An answer that quotes the first sentence of passage [1] and cites it (what verification keeps)."""
    prompt = messages[-1]["content"] if messages else ""
    found = _PASSAGE.search(prompt)
    if found is None:
        return refusal(messages)
    sentence = re.split(r"(?<=[.!?])\s", found.group(2).strip(), maxsplit=1)[0].rstrip(".")
    sentence = sentence.replace("“", "").replace("”", "").replace('"', "")
    return f'The archive reports: "{sentence}" [1].{extra}'


EMBEDDING_DIM = 64


def word_vector(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words point the same way (enough for retrieval tests)."""
    import hashlib

    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
        vec[h % dim] += 1.0 if h & 1 << 31 else -1.0
    return vec if any(vec) else [1.0] + [0.0] * (dim - 1)


class FakeOpenAI:
    """The server. ``requests`` holds every request body; ``fail_next(status)`` answers the next call with an
    error (429, 500...) the way the API does."""

    def __init__(
        self,
        *,
        reply: Callable[[list[JSON]], str] | None = None,
        extra: str = "",
        chunk_words: int = 2,
        chunk_delay: float = 0.05,
        first_delay: float = 0.0,
        context_words: int | None = None,
    ) -> None:
        self.reply = reply or (lambda messages: quote_first_passage(messages, extra))
        self.chunk_words = chunk_words
        self.chunk_delay = chunk_delay
        self.first_delay = first_delay  # reading the prompt, before the first token (slow on a CPU server)
        self.context_words = context_words  # like llama.cpp's n_ctx: a longer prompt gets its 400 error
        self.requests: list[JSON] = []
        self.keys: list[str] = []  # the API key of every request, as sent
        self.chunk_times: list[float] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """For ``OPENAI_BASE_URL``."""
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def fail_next(self, status: int = 500) -> None:
        with self._lock:
            self._failures.append(status)

    # -- behaviour -----------------------------------------------------------------------------------------------
    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def chunks(self, text: str) -> Iterator[str]:
        words = re.findall(r"\S+\s*", text)
        for i in range(0, len(words), self.chunk_words):
            yield "".join(words[i : i + self.chunk_words])


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server_fake
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with fake._lock:
            fake.requests.append(body)
        path = self.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/embeddings"):
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        auth = self.headers.get("Authorization", "")
        with fake._lock:
            fake.keys.append(auth.removeprefix("Bearer "))
        if not auth.startswith("Bearer "):
            self._json(401, {"error": {"message": "no API key", "type": "invalid_request_error"}})
            return
        status = fake._take_failure()
        if status is not None:
            self._json(status, {"error": {"message": f"injected {status}", "type": "server_error"}})
            return
        if path == "/v1/embeddings":
            self._embeddings(body)
            return
        messages = body.get("messages", [])
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages)
        if fake.context_words is not None and prompt_words > fake.context_words:
            message = (
                f"request ({prompt_words} tokens) exceeds the available context size ({fake.context_words} tokens), "
                "try increasing it"
            )
            self._json(400, {"error": {"code": 400, "message": message, "type": "exceed_context_size_error"}})
            return
        time.sleep(fake.first_delay)
        text = fake.reply(messages)
        finish = "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if limit is not None and len(text.split()) > int(limit):  # a word a token, near enough for tests
            text, finish = " ".join(text.split()[: int(limit)]), "length"
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model", "fake")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            self._json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = {**base, "object": "chat.completion.chunk"}
        self._event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for piece in fake.chunks(text):
            time.sleep(fake.chunk_delay)
            with fake._lock:
                fake.chunk_times.append(time.monotonic())
            try:
                self._event({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            except (BrokenPipeError, ConnectionResetError):
                return  # the client hung up (its deadline passed): a real server stops generating too
        self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _embeddings(self, body: JSON) -> None:
        """Like the API: at most 2048 inputs, each a non-empty string; vectors in input order with their index."""
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not 0 < len(inputs) <= 2048
            or not all(isinstance(t, str) and t for t in inputs)
        ):
            self._json(400, {"error": {"message": "'input' is invalid", "type": "invalid_request_error"}})
            return
        data = [{"object": "embedding", "index": i, "embedding": word_vector(t)} for i, t in enumerate(inputs)]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        self._json(200, {"object": "list", "data": data, "model": body.get("model", "fake"), "usage": usage})

    def _event(self, data: JSON) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, data: JSON) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
