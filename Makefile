# One entry point for every routine task. `make test` and `make local` create .venv on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The first Python 3.12 found: on PATH, or installed with pyenv.
PYTHON ?= $(shell for p in python3.12 python3 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12); do \
	if $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then echo $$p; break; fi; done)
export SAM_CLI_TELEMETRY = 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv browser lock test local build validate lint fmt bench clean

# requirements.lock pins the whole environment, transitive packages and pip included: a fresh machine
# installs exactly what CI tested. `make lock` makes it anew from pyproject.toml and the layers' pins.
LOCK := requirements.lock

$(BIN)/.installed: pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "Python 3.12 is needed (python3.12 on PATH, or PYTHON=/path/to/python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep '^pip==' $(LOCK))"
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed

# The layers' pins are constraints: the environment the tests run in is the one the layers ship.
lock: venv ## pin the whole environment anew (requirements.lock)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --no-emit-index-url \
		$(foreach f,$(wildcard shared/requirements*.txt),-c $(f)) -o $(LOCK)
	echo "checkov==3.3.30" | $(BIN)/uv pip compile --quiet - --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --no-emit-index-url -o $(CHECKOV_LOCK)

# The review console's tests (tests/console) drive Debian's chromium through Playwright (its own browser
# download is not used): installed from Debian's packages when missing, as root or through sudo.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		command -v apt-get >/dev/null || { echo "The console's tests need chromium and chromedriver on PATH" \
			"(Debian: apt-get install chromium chromium-driver)"; exit 1; }; \
		as_root=""; [ "$$(id -u)" -eq 0 ] || as_root="sudo"; \
		$$as_root apt-get update -qq && \
		$$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver; \
	fi

test: venv browser ## run the test suite (DATABASE_URL unset: an embedded PostgreSQL; chromium installed when missing)
	$(BIN)/pytest

# `make local PORT=3100` serves on another port (3000 is the one `sam local start-api` uses).
PORT ?= 3000
local: venv ## serve the HTTP API on http://127.0.0.1:$(PORT) (DATABASE_URL unset: an embedded PostgreSQL)
	$(BIN)/python -m infra.local_api --port $(PORT)

validate: venv ## lint the SAM template
	$(BIN)/sam validate --lint

# checkov pins a boto3 far older than the layer's, so it lives in a venv of its own, pinned by a lock of
# its own (requirements-checkov.lock, made by `make lock` too).
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_LOCK := requirements-checkov.lock
$(CHECKOV): $(CHECKOV_LOCK)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "$$(grep '^pip==' $(LOCK))"
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r $(CHECKOV_LOCK)
	touch $@

lint: venv $(CHECKOV) ## ruff and mypy on the code, cfn-lint and checkov on template.yaml and its SAM translation (0 findings; skips carry reasons)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m infra.translate_template .lint/translated.json
	$(BIN)/cfn-lint template.yaml .lint/translated.json
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f .lint/translated.json

fmt: venv ## format the code and apply ruff's safe fixes (import order, unused imports)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: venv ## build the functions and the layer for deployment, without Docker
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

bench: venv ## cold-start and latency figures
	$(BIN)/python -m bench.run

clean:
	rm -rf .aws-sam .local .lint $(VENV) $(CHECKOV_VENV)
