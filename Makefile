# All set-up happens here: a fresh clone needs only `make run` or `make test`.
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export NO_PROXY := 127.0.0.1,localhost,::1
export no_proxy := 127.0.0.1,localhost,::1

.PHONY: run test bench eval lint install clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (set PY=...)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded default: ingest the demo corpus, then answer questions.
run: $(STAMP)
	$(BIN)/briefbot demo

test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check bot index tests bench
	$(BIN)/ruff format --check bot index tests bench
	$(BIN)/mypy

SHARED := ../shared/data
RTQA := $(SHARED)/rtqa-2024

# Benchmarks of minutes: ingest pipeline vs bare model, digest composition, the bot through the fake server.
bench: $(STAMP)
	$(BIN)/python bench/ingest_bench.py --articles 500
	$(BIN)/python bench/digest_bench.py
	$(BIN)/python bench/bot_bench.py
	$(BIN)/python bench/broadcast_bench.py

# Answer quality on rtqa-2024 (the first run embeds the whole corpus: about an hour on 2 cores; cached after).
eval: $(STAMP)
	@test -d $(RTQA) || { echo "skipped: $(RTQA) is absent"; exit 0; }
	mkdir -p bench/out
	$(BIN)/briefbot eval $(RTQA)/questions_dev.jsonl.gz --null $(RTQA)/questions_null.jsonl.gz \
		--corpus $(RTQA)/articles.jsonl.gz --modes hybrid,dense,keyword --run-out bench/out/rtqa-run.jsonl

clean:
	rm -rf $(VENV) build *.egg-info
