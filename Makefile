# All set-up happens here: a fresh clone needs only `make run` or `make test`.
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export NO_PROXY := 127.0.0.1,localhost,::1
export no_proxy := 127.0.0.1,localhost,::1

.PHONY: run test bench lint install clean

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

bench: $(STAMP)
	$(BIN)/briefbot bench

clean:
	rm -rf $(VENV) build *.egg-info
