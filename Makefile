# Developer entry points. `make test` must work from a fresh clone with only python3.12 (pyenv,
# selected by .python-version in this directory) on the machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3.12
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: venv runtime browser test lint lint-template fuzz mutants demo bench bench-prepare bench-deflate bench-meta

# Everything: the runtime, the AWS adapters and the test and lint tools.
venv: $(STAMP)

# Only what `cellucid-cloud` needs on one machine (prepare, serve, up, curate): what the demo
# installs. `make venv` later adds the rest to the same .venv.
runtime: $(RUNTIME_STAMP)

# Browser tests drive Debian's chromium (DESIGN §7); install it when missing (root or sudo).
CHROMIUM := /usr/bin/chromium
browser: $(CHROMIUM)

$(CHROMIUM):
	@SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y --no-install-recommends chromium \
		|| { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

# A Python 3.12 .venv with a current pip (an existing one of another Python is replaced).
define python_venv
	@if ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
endef

# The stamps depend on pyproject.toml, so dependencies are reinstalled only when they change.
$(RUNTIME_STAMP): pyproject.toml
	$(python_venv)
	$(PY) -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml
	$(python_venv)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP) $(RUNTIME_STAMP)

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks infra functions
	$(VENV)/bin/ruff format --check src tests benchmarks infra functions
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy benchmarks
	$(VENV)/bin/mypy --explicit-package-bases functions
	$(VENV)/bin/lint-imports --no-cache

# The SAM template, translated offline and linted (also run by tests/unit/test_template.py),
# and its state machines' definitions checked by asl-validator (npm; installed when missing).
ASL_VALIDATOR := $(VENV)/npm/node_modules/.bin/asl-validator

$(ASL_VALIDATOR):
	npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund asl-validator@4.0.0

lint-template: venv $(ASL_VALIDATOR)
	$(PY) infra/lint_template.py --asl-validator $(ASL_VALIDATOR)

# One pytest worker per core (whole modules to a worker, so their fixtures are built once).
TEST_WORKERS ?= auto

test: venv browser
	$(MAKE) lint
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

# Schemathesis against the whole OpenAPI of a real `up`, far more examples than `make test`.
fuzz: venv
	$(PY) -m tests.fuzz

# Break each guard of docs/security.md and docs/reliability.md on purpose, one line at a time,
# in a scratch copy, and check that its tests catch it (tests/mutants.py; not part of `test`).
mutants: venv
	$(PY) -m tests.mutants

# The whole local system with a published synthetic dataset; prints the viewer URL.
demo: runtime
	$(PY) -m cellucid_cloud.cli up --demo --data-dir .demo/data --port $${CELLUCID_PORT:-8765}

bench: bench-prepare bench-deflate

bench-prepare: venv
	$(PY) benchmarks/prepare_bench.py

bench-meta: venv
	$(PY) benchmarks/meta_bench.py

bench-deflate: venv
	$(PY) benchmarks/deflate_bench.py
