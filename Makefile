# All set-up happens here: a fresh clone needs only `make run` or `make test`.
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export NO_PROXY := 127.0.0.1,localhost,::1
export no_proxy := 127.0.0.1,localhost,::1

.PHONY: run test bench bench-scale eval eval-newsqa lint install lock clean

UV_VERSION := 0.13.9

# Exactly what CI tested: every package pinned with its hashes in requirements.lock (`make lock` renews it).
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (set PY=...)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
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
	$(BIN)/lint-imports --no-cache pyproject.toml

# A year of news at N passages (`make bench-scale N=1000000`): builds the archive without embedding it (minutes to
# an hour), then times questions and an ingest. SCALE_HOME keeps the build for the next run; CHROMA_URL puts the
# vectors on a Chroma server. Not part of `make test`.
N ?= 100000
bench-scale: $(STAMP)
	$(BIN)/python bench/scale_bench.py --passages $(N) --json \
		$(if $(SCALE_HOME),--home $(SCALE_HOME) --reuse) $(if $(CHROMA_URL),--chroma-url $(CHROMA_URL))

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

# After changing the dependencies in pyproject.toml: pin them (and their hashes) again.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		-o requirements.lock

# Answer quality on newsqa-dev (questions as people type them, over 1,200 rtqa articles). The subset is written
# to a temporary file, never into the repository; its index is built once (about 15-25 minutes) and reused.
NEWSQA := $(SHARED)/newsqa-dev
eval-newsqa: $(STAMP)
	@test -d $(NEWSQA) || { echo "skipped: $(NEWSQA) is absent"; exit 0; }
	mkdir -p bench/out
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) $(NEWSQA)/make_subset.py "$$tmp/newsqa-subset.jsonl" && \
	$(BIN)/briefbot eval $(NEWSQA)/questions.jsonl --null $(NEWSQA)/null.jsonl --corpus "$$tmp/newsqa-subset.jsonl" \
		--modes hybrid,dense,keyword --run-out bench/out/newsqa-run.jsonl

clean:
	rm -rf $(VENV) build *.egg-info
